"""The defaults a sweep's trials resolve, kept in ``sweep.json`` so that a later diffnas resumes or confirms the
sweep with the configs it started with, or says why it cannot.

A trial's config is the spec's keys plus its point, with every other key from the defaults
(:mod:`diffnas.config.recipes`): the sampler's recipe over the global defaults. Those change between diffnas
versions (a recipe gains shrinking; recipes themselves arrived after the first sweeps). A sweep resumed or
confirmed by a newer diffnas would then run its remaining trials, or its baseline, as other configs than the
ones it explored, and the report would compare them as if they were one sweep.

So ``sweep run`` records, per sampler the sweep can run (:func:`sweep_samplers`), the value of every key the
user did not set (:func:`resolved_defaults`), and ``sweep resume`` / ``confirm`` check them
(:func:`check_defaults`):

* the same values now: go on;
* a sweep written before this record existed (no ``defaults`` in ``sweep.json``): its ``baseline_config_id``
  tells. Where the baseline resolves to it now, go on; where it does so with ``recipe: plain`` (the global
  defaults, as every sweep ran before per-sampler recipes), the spec is pinned to ``recipe: plain`` for this
  command, and a line says so;
* otherwise one InputError line names the sampler and the first keys whose defaults changed: resume with the
  diffnas that started the sweep (the rows' ``diffnas_commit``), or start a new sweep.

No Ray, no torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from diffnas.config import FIELDS, NON_IDENTITY_KEYS, SearchConfig
from diffnas.config.recipes import PLAIN_RECIPE
from diffnas.errors import InputError
from diffnas.names import names
from diffnas.sweeps.spec import SweepSpec

DEFAULTS_KEY = "defaults"
"""The ``sweep.json`` entry: sampler -> {key: resolved value} for every key the spec does not set."""

_SHOWN = 3  # changed keys named in the refusal


def sweep_samplers(spec: SweepSpec) -> list[str]:
    """The samplers the sweep's trials can run: the grid's values, every registered sampler when the sampler is a
    sampled axis, else the base's; and the baseline's."""
    if "sampler" in spec.grid:
        found = [str(s) for s in spec.grid["sampler"]]
    elif "sampler" in spec.sample:
        found = list(names("sampler"))
    else:
        found = [str(spec.base["sampler"])]
    if "sampler" in spec.baseline:
        found.append(str(spec.baseline["sampler"]))
    return list(dict.fromkeys(found))


def resolved_defaults(base: SearchConfig, sampler: str) -> dict[str, Any]:
    """Every search key ``base`` leaves to the defaults, as it resolves with ``sampler``: key -> value (JSON-ready)."""
    cfg = base.replace(sampler=sampler)
    user = set(base.given()) | {"sampler"}
    return {k: _plain(v) for k, v in cfg.to_flat().items() if k not in user and k not in NON_IDENTITY_KEYS}


def record_defaults(spec: SweepSpec) -> dict[str, dict[str, Any]]:
    """What ``sweep.json`` keeps under :data:`DEFAULTS_KEY`."""
    return {s: resolved_defaults(spec.base, s) for s in sweep_samplers(spec)}


def changed_keys(then: Mapping[str, Any], now: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, then, now) for each key whose default differs; a key added since (absent ``then``) counts only when
    it is not at its global default (ids written before it existed hold: ``LATER_KEYS``)."""
    out = []
    for key, value in now.items():
        if key in then:
            if then[key] != value:
                out.append((key, then[key], value))
        elif key in FIELDS and value != _plain(FIELDS[key].default):
            out.append((key, "(no such key)", value))
    return out


def check_defaults(data: Mapping[str, Any], spec: SweepSpec, command: str) -> SweepSpec:
    """The spec to ``command`` (resume, confirm) the sweep of ``sweep.json`` ``data`` with (see the module
    docstring); InputError when its trials would resolve to other configs now."""
    recorded = data.get(DEFAULTS_KEY)
    if isinstance(recorded, dict):
        for sampler, then in recorded.items():
            if not isinstance(then, dict) or sampler not in names("sampler"):
                continue
            diff = changed_keys(then, resolved_defaults(spec.base, sampler))
            if diff:
                raise _changed(command, f"with sampler {sampler}, " + ", ".join(
                    f"{k} was {v0!r}, now {v1!r}" for k, v0, v1 in diff[:_SHOWN])
                    + (f" and {len(diff) - _SHOWN} more" if len(diff) > _SHOWN else ""))
        return spec
    then_id = data.get("baseline_config_id")
    if not then_id or spec.baseline_config().config_id() == then_id:
        return spec
    if "recipe" not in spec.base.given():
        plain = dataclasses.replace(spec, base=spec.base.replace(recipe=PLAIN_RECIPE))
        if plain.baseline_config().config_id() == then_id:
            print(f"sweep {spec.name}: started before per-sampler recipes; its trials keep the global defaults "
                  f"(recipe: {PLAIN_RECIPE})", flush=True)
            return plain
    raise _changed(command, f"its baseline ran as config {then_id} and resolves to "
                            f"{spec.baseline_config().config_id()} now")


def _changed(command: str, what: str) -> InputError:
    return InputError("DIR", f"the defaults changed since this sweep started ({what}); {command} it with the "
                             "diffnas that started it (its rows' diffnas_commit) or start a new sweep")


def _plain(value: Any) -> Any:
    """A JSON round-trip's view of a value (tuples as lists), so a recorded value compares equal to its own."""
    return list(value) if isinstance(value, tuple) else value
