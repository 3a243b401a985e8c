"""A corpus of bad inputs across every entry point, run in-process through ``diffnas.cli.main``.

Each case runs in a fresh copy of a small workspace (valid config, spec, genotype.json, a real
1-epoch search results folder, a sweep folder) and must give: exit code 2, exactly one stderr line
of at most 200 characters that names the field or file, no traceback, and the workspace
byte-identical afterwards. Nothing may start Ray, load data for training, or train: those entry
points are replaced by functions that fail the test.

Report cases pass ``--quiet`` (without it the report prints progress lines on stderr before an
error found after loading, e.g. an unknown ``--metric``).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from diffnas.cli import main
from diffnas.config import FIELDS
from diffnas.sweeps.spec import SPEC_FIELDS
from tests.tree_state import tree_state

Setup = Callable[[Path], None] | None

CONFIG = {"dataset": "digits", "epochs": 1, "data": {"subset": 200, "resolution": 8}, "model": {"channels": 4}}
SPEC: dict[str, Any] = {"name": "tiny", "base": {"dataset": "digits", "epochs": 3, "data": {"subset": 200}},
                        "seeds": [0]}
GENOTYPE = {"space": "nb201", "ops": None, "dataset": "digits",
            "genotype": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|",
            "data": {"subset": 200, "resolution": 8, "test_fraction": 0.2, "dir": None},
            "model": {"channels": 4, "cells_per_stage": 1, "stages": 1}}
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
MAP_BOMB = "a: &a {x: 1, y: 2}\n" + "".join(
    f"{c}: &{c} {{{', '.join(f'k{j}: *{p}' for j in range(10))}}}\n" for p, c in zip("abcdefgh", "bcdefghi"))


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    names: str  # the field or file the one line must name
    setup: Setup = None


def _write(rel: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        path = ws / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return setup


def _mkdir(rel: str) -> Callable[[Path], None]:
    return lambda ws: (ws / rel).mkdir(parents=True, exist_ok=True)


def _both(*setups: Setup) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        for s in setups:
            if s is not None:
                s(ws)
    return setup


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def _spec_with(key: str, value: Any) -> str:
    spec = json.loads(json.dumps(SPEC))
    head, _, tail = key.partition(".")
    if tail:
        section = spec.setdefault(head, {})
        section[tail] = value
        if head == "scheduler":
            section.setdefault("type", "asha")
    else:
        spec[head] = value
    return _yaml(spec)


# -- search ---------------------------------------------------------------------------------------
def _field_cases() -> list[Case]:
    """Bad values for every search-config key, given as --set: wrong type, out of range, unknown choice."""
    cases: list[Case] = []
    for key, f in FIELDS.items():
        bad: list[str] = []
        if f.kind in ("int", "float"):
            bad.append("abc")
            if f.minimum is not None:
                bad.append(str(f.minimum if f.exclusive_min else f.minimum - 1))
            if f.maximum is not None:
                bad.append(str(f.maximum if f.exclusive_max else f.maximum + 1))
            if f.kind == "int":
                bad.append("1.5")
        elif f.kind == "str":
            bad.append("bogus_value" if f.options() is not None else "[1, 2]")
        elif f.kind.startswith("list"):
            bad.extend(["5", "[]"])
        if not f.nullable:
            bad.append("null")
        for i, value in enumerate(bad):
            cases.append(Case(f"set-{key}-{i}", ("search", "--set", f"{key}={value}", "--out", "o"), key))
    return cases


SEARCH: list[Case] = _field_cases() + [
    Case("set-empty-key", ("search", "--set", "=5"), "--set"),
    Case("set-no-equals", ("search", "--set", "epochs"), "--set"),
    Case("set-unknown-key", ("search", "--set", "tempreature.t0=2"), "tempreature.t0"),
    Case("set-warmup-ge-epochs", ("search", "--set", "epochs=3", "--set", "warmup_epochs=3"), "warmup_epochs"),
    Case("set-tmin-above-t0", ("search", "--set", "temperature.schedule=linear", "--set", "temperature.t0=1",
                               "--set", "temperature.t_min=2"), "temperature.t_min"),
    Case("set-lr-min-above-lr", ("search", "--set", "optim.w_lr=0.01", "--set", "optim.w_lr_min=0.1"),
         "optim.w_lr_min"),
    Case("set-ops-only-none", ("search", "--set", "ops=[none]"), "ops"),
    Case("set-ops-unknown", ("search", "--set", "ops=[sep_conv_3x3]"), "ops"),
    Case("set-ops-repeated", ("search", "--set", "ops=[skip_connect, skip_connect]"), "ops"),
    Case("set-alias-bomb", ("search", "--set", "ops=" + ALIAS_BOMB.replace("\n", "\n")), "ops"),
    Case("set-data-dir-empty-string", ("search", "--set", "data.dir=''"), "data.dir"),
    Case("set-fashion-missing-dir", ("search", "--set", "dataset=fashion_mnist", "--set", "data.dir=nowhere"),
         "data.dir"),
    Case("set-truth-missing", ("search", "--set", "truth.table=missing.csv"), "truth.table"),
    Case("set-truth-folder", ("search", "--set", "truth.table=adir"), "truth.table", _mkdir("adir")),
    Case("set-truth-binary", ("search", "--set", "truth.table=t.csv"), "truth.table",
         _write("t.csv", bytes(range(256)) * 4)),
    Case("set-truth-bad-gzip", ("search", "--set", "truth.table=t.csv.gz"), "truth.table",
         _write("t.csv.gz", b"not gzip at all")),
    Case("set-truth-no-column", ("search", "--set", "truth.table=t.csv.gz"), "truth.column",
         _write("t.csv.gz", gzip.compress(b"arch_str,acc\n|a|,1\n"))),
    Case("search-data-dir-empty", ("search", "--data-dir", ""), "--data-dir"),
    Case("search-data-dir-blank", ("search", "--data-dir", "  "), "--data-dir"),
    Case("search-out-empty", ("search", "--out", ""), "--out"),
    Case("search-out-file", ("search", "--out", "conf.yaml"), "--out"),
    Case("search-out-under-file", ("search", "--out", "conf.yaml/sub"), "--out"),
    Case("search-out-foreign", ("search", "--out", "foreign"), "--out", _write("foreign/a.txt", "mine")),
    Case("search-out-results-of-other-run", ("search", "--config", "conf.yaml", "--set", "sampler=gumbel", "--out", "results/run"),
         "--out"),
    Case("search-out-bad-checkpoint", ("search", "--out", "ck"), "--out", _write("ck/checkpoint.pt", b"garbage")),
    Case("search-name-empty", ("search", "--name", ""), "--name"),
    Case("search-name-space", ("search", "--name", "a b"), "--name"),
    Case("search-name-slash", ("search", "--name", "../x"), "--name"),
    Case("config-missing", ("search", "--config", "none.yaml"), "--config"),
    Case("config-folder", ("search", "--config", "adir"), "--config", _mkdir("adir")),
    Case("config-not-utf8", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", b"epochs: \xff\xfe\n")),
    Case("config-binary", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", bytes(range(256)))),
    Case("config-list", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", "- a\n- b\n")),
    Case("config-scalar", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", "42\n")),
    Case("config-invalid-yaml", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", "epochs: [1\n")),
    Case("config-tab", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", "\tepochs: 1\n")),
    Case("config-duplicate-key", ("search", "--config", "c.yaml"), "--config",
         _write("c.yaml", "epochs: 2\nsampler: gumbel\nepochs: 3\n")),
    Case("config-duplicate-nested-key", ("search", "--config", "c.yaml"), "--config",
         _write("c.yaml", "temperature:\n  t0: 2\n  t0: 3\n")),
    Case("config-nested-vs-dotted", ("search", "--config", "c.yaml"), "temperature.t0",
         _write("c.yaml", "temperature: {t0: 2}\ntemperature.t0: 3\n")),
    Case("config-alias-bomb", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", ALIAS_BOMB)),
    Case("config-mapping-alias-bomb", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", MAP_BOMB)),
    Case("config-recursive-alias", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", "a: &a [*a]\n")),
    Case("config-too-deep", ("search", "--config", "c.yaml"), "--config", _write("c.yaml", "[" * 1200)),
    Case("config-too-big", ("search", "--config", "c.yaml"), "--config",
         _write("c.yaml", "# padding\n" * 120_000)),
    Case("config-unknown-key", ("search", "--config", "c.yaml"), "epochz", _write("c.yaml", "epochz: 3\n")),
    Case("config-long-unknown-key", ("search", "--config", "c.yaml"), "unknown key",
         _write("c.yaml", "k" * 1000 + ": 1\n")),
    Case("config-huge-value", ("search", "--config", "c.yaml"), "sampler",
         _write("c.yaml", "sampler: " + "x" * 100_000 + "\n")),
    Case("config-section-not-mapping", ("search", "--config", "c.yaml"), "temperature",
         _write("c.yaml", "temperature: 5\n")),
    Case("config-list-of-maps", ("search", "--config", "c.yaml"), "ops",
         _write("c.yaml", "ops: [{a: 1}]\n")),
]

# -- evaluate -------------------------------------------------------------------------------------
def _geno(**change: Any) -> str:
    g = json.loads(json.dumps(GENOTYPE))
    for key, value in change.items():
        if "__" in key:
            section, sub = key.split("__")
            g[section][sub] = value
        elif value is _DROP:
            g.pop(key)
        else:
            g[key] = value
    return json.dumps(g)


_DROP = object()


def _eval_geno(cid: str, names: str, text: str | bytes) -> Case:
    return Case(f"evaluate-{cid}", ("evaluate", "g.json"), names, _write("g.json", text))


EVALUATE: list[Case] = [
    Case("evaluate-missing", ("evaluate", "nope.json"), "GENOTYPE_JSON"),
    Case("evaluate-folder", ("evaluate", "adir"), "GENOTYPE_JSON", _mkdir("adir")),
    _eval_geno("not-utf8", "GENOTYPE_JSON", b'{"space": "\xff"}'),
    _eval_geno("not-json", "GENOTYPE_JSON", "space: nb201\n"),
    _eval_geno("truncated", "GENOTYPE_JSON", _geno()[:40]),
    _eval_geno("list", "GENOTYPE_JSON", "[1, 2]"),
    _eval_geno("number", "GENOTYPE_JSON", "42"),
    _eval_geno("deep", "GENOTYPE_JSON", "[" * 100_000 + "]" * 100_000),
    _eval_geno("no-space", "GENOTYPE_JSON", _geno(space=_DROP)),
    _eval_geno("no-genotype", "GENOTYPE_JSON", _geno(genotype=_DROP)),
    _eval_geno("space-unknown", "space", _geno(space="nb301")),
    _eval_geno("space-number", "space", _geno(space=3)),
    _eval_geno("genotype-number", "genotype", _geno(genotype=5)),
    _eval_geno("genotype-null", "genotype", _geno(genotype=None)),
    _eval_geno("genotype-list", "genotype", _geno(genotype=["a"])),
    _eval_geno("genotype-garbage", "genotype", _geno(genotype="|bogus~0|")),
    _eval_geno("genotype-wrong-edges", "genotype", _geno(genotype="|nor_conv_3x3~0|")),
    _eval_geno("ops-number", "ops", _geno(ops=3)),
    _eval_geno("ops-numbers", "ops", _geno(ops=[1, 2])),
    _eval_geno("ops-empty", "ops", _geno(ops=[])),
    _eval_geno("dataset-number", "dataset", _geno(dataset=7)),
    _eval_geno("geno-dataset-unknown", "dataset", _geno(dataset="cifar")),
    _eval_geno("data-string", "data", _geno(data="digits")),
    _eval_geno("data-list", "data", _geno(data=[1])),
    _eval_geno("data-subset-small", "data.subset", _geno(data__subset=5)),
    _eval_geno("data-subset-string", "data.subset", _geno(data__subset="200")),
    _eval_geno("data-resolution-big", "data.resolution", _geno(data__resolution=1000)),
    _eval_geno("data-test-fraction", "data.test_fraction", _geno(data__test_fraction=2)),
    _eval_geno("data-dir-number", "data.dir", _geno(data__dir=5)),
    _eval_geno("data-unknown-key", "data.colour", _geno(data__colour="red")),
    _eval_geno("model-string", "model", _geno(model="big")),
    _eval_geno("model-channels-zero", "model.channels", _geno(model__channels=0)),
    _eval_geno("model-stages-big", "model.stages", _geno(model__stages=99)),
    _eval_geno("model-cells-float", "model.cells_per_stage", _geno(model__cells_per_stage=1.5)),
    _eval_geno("too-big", "GENOTYPE_JSON", " " * (1 << 20) + "{}"),
    Case("evaluate-threads-0", ("evaluate", "geno.json", "--threads", "0"), "--threads"),
    Case("evaluate-threads-neg", ("evaluate", "geno.json", "--threads", "-1"), "--threads"),
    Case("evaluate-threads-big", ("evaluate", "geno.json", "--threads", "100000"), "--threads"),
    Case("evaluate-seed-neg", ("evaluate", "geno.json", "--seed", "-1"), "--seed"),
    Case("evaluate-seed-huge", ("evaluate", "geno.json", "--seed", str(2**70)), "--seed"),
    Case("evaluate-epochs-0", ("evaluate", "geno.json", "--epochs", "0"), "--epochs"),
    Case("evaluate-epochs-huge", ("evaluate", "geno.json", "--epochs", "1000000000"), "--epochs"),
    Case("evaluate-epochs-text", ("evaluate", "geno.json", "--epochs", "ten"), "--epochs"),
    Case("evaluate-subset-small", ("evaluate", "geno.json", "--subset", "5"), "--subset"),
    Case("evaluate-resolution-small", ("evaluate", "geno.json", "--resolution", "2"), "--resolution"),
    Case("evaluate-resolution-big", ("evaluate", "geno.json", "--resolution", "1000"), "--resolution"),
    Case("evaluate-dataset-unknown", ("evaluate", "geno.json", "--dataset", "cifar"), "dataset"),
    Case("evaluate-dataset-empty", ("evaluate", "geno.json", "--dataset", ""), "--dataset"),
    Case("evaluate-data-dir-empty", ("evaluate", "geno.json", "--data-dir", ""), "--data-dir"),
    Case("evaluate-fashion-missing", ("evaluate", "geno.json", "--dataset", "fashion_mnist", "--data-dir", "nowhere"),
         "data.dir"),
    Case("evaluate-device", ("evaluate", "geno.json", "--device", "tpu"), "--device"),
]

# -- sweep run ------------------------------------------------------------------------------------
def _spec_field_cases() -> list[Case]:
    cases: list[Case] = []
    for key, f in SPEC_FIELDS.items():
        bad: list[Any] = []
        if f.kind in ("int", "float"):
            bad.append("abc")
            if f.minimum is not None:
                bad.append(f.minimum if f.exclusive_min else f.minimum - 1)
        elif f.kind == "str":
            bad.append("bogus_value" if f.choices is not None else [1, 2])
        for i, value in enumerate(bad):
            cases.append(Case(f"spec-{key}-{i}", ("sweep", "run", "s.yaml"), key, _write("s.yaml", _spec_with(key, value))))
    return cases


def _spec(cid: str, names: str, text: str | bytes, *extra: str) -> Case:
    return Case(f"spec-{cid}", ("sweep", "run", "s.yaml", *extra), names, _write("s.yaml", text))


SWEEP_RUN: list[Case] = _spec_field_cases() + [
    Case("spec-missing", ("sweep", "run", "none.yaml"), "SPEC"),
    Case("spec-folder", ("sweep", "run", "adir"), "SPEC", _mkdir("adir")),
    _spec("not-utf8", "SPEC", b"name: \xff\n"),
    _spec("empty", "SPEC", ""),
    _spec("list", "spec", "- 1\n"),
    _spec("invalid-yaml", "SPEC", "base: {a: [1}\n"),
    _spec("duplicate-key", "SPEC", _spec_with("metric", "val_acc") + "metric: val_loss\n"),
    _spec("alias-bomb", "SPEC", ALIAS_BOMB),
    _spec("too-big", "SPEC", "#" * (2 << 20)),
    _spec("too-deep", "SPEC", "base: " + "[" * 1200),
    _spec("unknown-key", "bogus", _spec_with("bogus", 1)),
    _spec("base-unknown-key", "base.epochz", _yaml({**SPEC, "base": {"epochz": 3}})),
    _spec("base-bad-value", "base.sampler", _yaml({**SPEC, "base": {"sampler": "nope"}})),
    _spec("base-not-mapping", "base", _yaml({**SPEC, "base": [1]})),
    _spec("base-nested-vs-dotted", "base.data.subset",
          _yaml({**SPEC, "base": {"epochs": 3, "data": {"subset": 200}, "data.subset": 300}})),
    _spec("base-data-dir-missing", "base.data.dir",
          _yaml({**SPEC, "base": {"epochs": 3, "dataset": "fashion_mnist", "data": {"dir": "nowhere"}}})),
    _spec("grid-data-dir-missing", "grid.data.dir",
          _yaml({**SPEC, "base": {"epochs": 3, "dataset": "fashion_mnist"}, "grid": {"data.dir": ["nowhere", "x"]}})),
    _spec("base-truth-missing", "base.truth.table",
          _yaml({**SPEC, "base": {"epochs": 3, "truth": {"table": "missing.csv"}}})),
    _spec("grid-unknown-key", "grid.temperature.tzero", _yaml({**SPEC, "grid": {"temperature.tzero": [1, 2]}})),
    _spec("grid-bad-value", "grid.sampler", _yaml({**SPEC, "grid": {"sampler": ["softmax", "nope"]}})),
    _spec("grid-not-list", "grid.sampler", _yaml({**SPEC, "grid": {"sampler": "softmax"}})),
    _spec("grid-repeat", "grid.sampler", _yaml({**SPEC, "grid": {"sampler": ["softmax", "softmax"]}})),
    _spec("grid-seed-axis", "grid.seed", _yaml({**SPEC, "grid": {"seed": [1, 2]}})),
    _spec("grid-epochs-axis", "grid.epochs", _yaml({**SPEC, "grid": {"epochs": [1, 2]}})),
    _spec("sample-normal", "sample.temperature.t0", _yaml({**SPEC, "sample": {"temperature.t0": {"normal": [1, 2]}}})),
    _spec("sample-low-high", "sample.temperature.t0.uniform",
          _yaml({**SPEC, "sample": {"temperature.t0": {"uniform": [3.0, 2.0]}}})),
    _spec("sample-range", "sample.clip.value", _yaml({**SPEC, "sample": {"clip.value": {"uniform": [-1.0, 2.0]}}})),
    _spec("sample-loguniform-zero", "sample.temperature.t0.loguniform",
          _yaml({**SPEC, "sample": {"temperature.t0": {"loguniform": [0.0, 2.0]}}})),
    _spec("sample-uniform-int-key", "sample.clip.window", _yaml({**SPEC, "sample": {"clip.window": {"uniform": [1, 5]}}})),
    _spec("asha-max-t", "scheduler.max_t", _yaml({**SPEC, "scheduler": {"type": "asha", "max_t": 7}})),
    _spec("asha-grace-too-big", "scheduler.grace_period",
          _yaml({**SPEC, "scheduler": {"type": "asha", "grace_period": 3}})),
    _spec("fifo-grace", "scheduler.grace_period", _yaml({**SPEC, "scheduler": {"type": "fifo", "grace_period": 1}})),
    _spec("optuna-grid", "grid", _yaml({**SPEC, "search": "optuna", "grid": {"sampler": ["softmax", "gumbel"]}})),
    _spec("optuna-no-sample", "sample", _yaml({**SPEC, "search": "optuna"})),
    _spec("num-samples-no-axes", "num_samples", _yaml({**SPEC, "num_samples": 3})),
    _spec("seeds-repeat", "seeds", _yaml({**SPEC, "seeds": [0, 0]})),
    _spec("seeds-negative", "seeds", _yaml({**SPEC, "seeds": [-1]})),
    _spec("seeds-zero-count", "seeds", _yaml({**SPEC, "seeds": 0})),
    _spec("seeds-string", "seeds", _yaml({**SPEC, "seeds": "many"})),
    _spec("resources-unknown", "resources.tpu", _yaml({**SPEC, "resources": {"tpu": 1}})),
    _spec("resources-not-mapping", "resources", _yaml({**SPEC, "resources": 4})),
    _spec("baseline-bad", "baseline.clip.mode", _yaml({**SPEC, "baseline": {"clip.mode": "sometimes"}})),
    _spec("baseline-unknown", "baseline.colour", _yaml({**SPEC, "baseline": {"colour": "red"}})),
    _spec("name-bad", "name", _yaml({**SPEC, "name": "a b/c"})),
    _spec("section-not-mapping", "grid", _yaml({**SPEC, "grid": [1, 2]})),
    Case("run-num-cpus-0", ("sweep", "run", "spec.yaml", "--num-cpus", "0"), "--num-cpus"),
    Case("run-num-cpus-neg", ("sweep", "run", "spec.yaml", "--num-cpus", "-1"), "--num-cpus"),
    Case("run-num-cpus-text", ("sweep", "run", "spec.yaml", "--num-cpus", "all"), "--num-cpus"),
    Case("run-storage-file", ("sweep", "run", "spec.yaml", "--storage", "conf.yaml"), "--storage"),
    Case("run-storage-under-file", ("sweep", "run", "spec.yaml", "--storage", "conf.yaml/sub"), "--storage"),
    Case("run-storage-scheme", ("sweep", "run", "spec.yaml", "--storage", "ftp://host/x"), "--storage"),
    Case("run-storage-scheme-2", ("sweep", "run", "spec.yaml", "--storage", "mem://x"), "--storage"),
    Case("run-storage-empty", ("sweep", "run", "spec.yaml", "--storage", ""), "--storage"),
    Case("run-storage-existing-sweep", ("sweep", "run", "spec.yaml", "--storage", "sweep"), "--storage"),
    Case("run-storage-search-results", ("sweep", "run", "spec.yaml", "--storage", "results/run"), "--storage"),
    Case("run-storage-broken-sweep-json", ("sweep", "run", "spec.yaml", "--storage", "bs"), "--storage",
         _write("bs/sweep.json", "{not json")),
    Case("run-name-empty", ("sweep", "run", "spec.yaml", "--name", ""), "--name"),
    Case("run-name-bad", ("sweep", "run", "spec.yaml", "--name", "a b"), "name"),
]

# -- sweep resume | confirm | status --------------------------------------------------------------
def _sweep_json(text: str | bytes) -> Callable[[Path], None]:
    return _write("sweep/sweep.json", text)


def _edit_sweep(**change: Any) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        doc = json.loads((ws / "sweep" / "sweep.json").read_text())
        for key, value in change.items():
            if value is _DROP:
                doc.pop(key)
            elif key == "spec_patch":
                doc["spec"].update(value)
            else:
                doc[key] = value
        (ws / "sweep" / "sweep.json").write_text(json.dumps(doc))
    return setup


def _truncate_part(ws: Path) -> None:
    part = next((ws / "sweep" / "epochs").glob("*.parquet"))
    part.write_bytes(part.read_bytes()[:100])


SWEEP_DIR_PROBLEMS: list[tuple[str, str, Setup]] = [
    ("missing-dir", "DIR", lambda ws: shutil.rmtree(ws / "sweep")),
    ("no-sweep-json", "DIR", lambda ws: (ws / "sweep" / "sweep.json").unlink()),
    ("not-json", "sweep.json", _sweep_json("{not json")),
    ("not-utf8", "sweep.json", _sweep_json(b'{"a": "\xff"}')),
    ("list", "sweep.json", _sweep_json("[1, 2]")),
    ("no-spec", "sweep.json", _edit_sweep(spec=_DROP)),
    ("spec-list", "sweep.json", _edit_sweep(spec=[1])),
    ("spec-bad-metric", "spec.metric", _edit_sweep(spec_patch={"metric": "nope"})),
    ("experiments-not-list", "sweep.json", _edit_sweep(experiments=5)),
    ("experiments-no-name", "sweep.json", _edit_sweep(experiments=[{"phase": "explore"}])),
    ("sweep-json-folder", "sweep.json", lambda ws: ((ws / "sweep" / "sweep.json").unlink(),
                                                    (ws / "sweep" / "sweep.json").mkdir())),
]
SWEEP_DIR: list[Case] = [
    Case(f"{action}-{cid}", ("sweep", action, "sweep"), names, setup)
    for action in ("status", "resume", "confirm") for cid, names, setup in SWEEP_DIR_PROBLEMS
] + [
    Case("status-truncated-parquet", ("sweep", "status", "sweep"), "epochs", _truncate_part),
    Case("confirm-truncated-parquet", ("sweep", "confirm", "sweep"), "epochs", _truncate_part),
    Case("confirm-top-k-0", ("sweep", "confirm", "sweep", "--top-k", "0"), "--top-k"),
    Case("confirm-seeds-0", ("sweep", "confirm", "sweep", "--seeds", "-2"), "--seeds"),
    Case("confirm-num-cpus-0", ("sweep", "confirm", "sweep", "--num-cpus", "0"), "--num-cpus"),
    Case("confirm-unfinished", ("sweep", "confirm", "sweep"), "DIR",
         _edit_sweep(experiments=[{"name": "explore", "phase": "explore", "finished": False}])),
    Case("confirm-no-results", ("sweep", "confirm", "sweep"), "DIR", lambda ws: shutil.rmtree(ws / "sweep" / "epochs")),
    Case("confirm-data-dir-gone", ("sweep", "confirm", "sweep"), "base.data.dir",
         _edit_sweep(spec_patch={"base": {"epochs": 3, "dataset": "fashion_mnist", "data.dir": "gone"}})),
    Case("resume-num-cpus-neg", ("sweep", "resume", "sweep", "--num-cpus", "-1"), "--num-cpus"),
    Case("resume-no-tune-state", ("sweep", "resume", "sweep"), "DIR",
         _edit_sweep(experiments=[{"name": "explore", "phase": "explore", "finished": False}])),
]

# -- report ---------------------------------------------------------------------------------------
def _rewrite_epochs(change: Callable[[Any], Any]) -> Callable[[Path], None]:
    """Rewrite every epochs part of results/run through ``change(table)`` (metadata kept)."""
    def setup(ws: Path) -> None:
        for part in (ws / "results" / "run" / "epochs").glob("*.parquet"):
            table = pq.read_table(part)
            meta = table.schema.metadata
            pq.write_table(change(table).replace_schema_metadata(meta), part)
    return setup


def _epoch_nan(table: Any) -> Any:
    import pyarrow as pa

    i = table.schema.get_field_index("epoch")
    return table.set_column(i, "epoch", pa.array([float("nan")] * table.num_rows))


def _probs_strings(table: Any) -> Any:
    import pyarrow as pa

    i = table.schema.get_field_index("op_probs")
    return table.set_column(i, "op_probs", pa.array([["a", "b"]] * table.num_rows, pa.list_(pa.string())))


def _drop(column: str) -> Callable[[Any], Any]:
    return lambda table: table.drop_columns([column])


def _report(cid: str, names: str, *flags: str, setup: Setup = None, results: str = "results/run") -> Case:
    return Case(f"report-{cid}", ("report", results, "--quiet", *flags), names, setup)


OUT = ("--out", "rep")
REPORT: list[Case] = [
    _report("out-parent", "--out", "--out", "results"),
    _report("out-cwd", "--out", "--out", "."),
    _report("out-itself", "--out", "--out", "results/run"),
    _report("out-epochs", "--out", "--out", "results/run/epochs"),
    _report("out-trials", "--out", "--out", "results/run/trials"),
    _report("out-file", "--out", "--out", "conf.yaml"),
    _report("out-under-file", "--out", "--out", "conf.yaml/sub"),
    _report("out-foreign", "--out", "--out", "foreign", setup=_write("foreign/thesis.tex", "x")),
    _report("out-empty", "--out", "--out", ""),
    _report("out-second-results", "--out", "--out", "sweep", results="results/run"),
    _report("collapse-neg", "--collapse", *OUT, "--collapse", "-3"),
    _report("collapse-zero", "--collapse", *OUT, "--collapse", "0"),
    _report("collapse-big", "--collapse", *OUT, "--collapse", "2"),
    _report("seed-neg", "--seed", *OUT, "--seed", "-1"),
    _report("seed-huge", "--seed", *OUT, "--seed", str(2**64)),
    _report("threshold-zero", "--threshold", *OUT, "--threshold", "0"),
    _report("threshold-big", "--threshold", *OUT, "--threshold", "1.5"),
    _report("threshold-nan", "--threshold", *OUT, "--threshold", "nan"),
    _report("window-zero", "--window", *OUT, "--window", "0"),
    _report("resamples-small", "--n-resamples", *OUT, "--n-resamples", "5"),
    _report("resamples-huge", "--n-resamples", *OUT, "--n-resamples", "1000000000"),
    _report("confidence-one", "--confidence", *OUT, "--confidence", "1"),
    _report("confidence-zero", "--confidence", *OUT, "--confidence", "0"),
    _report("max-curves-zero", "--max-curves", *OUT, "--max-curves", "0"),
    _report("format-unknown", "--format", *OUT, "--format", "csv,docx"),
    _report("plots-unknown", "--plots", *OUT, "--plots", "pie"),
    _report("phase-unknown", "--phase", *OUT, "--phase", "warmup"),
    _report("mode-unknown", "--mode", *OUT, "--mode", "maximise"),
    _report("metric-unknown", "--metric", *OUT, "--metric", "bogus"),
    _report("baseline-unknown-key", "--baseline", *OUT, "--baseline", "colour=red"),
    _report("baseline-no-match", "--baseline", *OUT, "--baseline", "sampler=enhanced"),
    _report("group-by-unknown", "--group-by", *OUT, "--group-by", "nope"),
    _report("featured-unknown", "--featured", *OUT, "--featured", "nobody"),
    _report("results-missing", "nowhere", *OUT, results="nowhere"),
    _report("results-file", "conf.yaml", *OUT, results="conf.yaml"),
    _report("results-empty", "adir", *OUT, results="adir", setup=_mkdir("adir")),
    _report("epochs-truncated", ".parquet", *OUT, setup=lambda ws: [
        p.write_bytes(p.read_bytes()[:100]) for p in (ws / "results" / "run" / "epochs").glob("*.parquet")]),
    _report("epochs-not-parquet", ".parquet", *OUT, setup=_write("results/run/epochs/x.parquet", "hello")),
    _report("epoch-float-nan", "epoch", *OUT, setup=_rewrite_epochs(_epoch_nan)),
    _report("op-probs-strings", "op_probs", *OUT, setup=_rewrite_epochs(_probs_strings)),
    _report("no-val-acc", "val_acc", *OUT, setup=_rewrite_epochs(_drop("val_acc"))),
    _report("sweep-json-invalid", "sweep.json", *OUT, setup=_write("results/run/sweep.json", "{oops")),
    _report("sweep-json-list", "sweep.json", *OUT, setup=_write("results/run/sweep.json", "[]")),
    _report("sweep-json-metric-number", "sweep.json", *OUT, setup=_write("results/run/sweep.json", '{"metric": 5}')),
    _report("sweep-json-baseline-list", "sweep.json", *OUT, setup=_write("results/run/sweep.json", '{"baseline": [1]}')),
    _report("sweep-json-not-utf8", "sweep.json", *OUT, setup=_write("results/run/sweep.json", b'{"a": "\xff"}')),
]

TOP: list[Case] = [
    Case("no-command", (), "COMMAND"),
    Case("unknown-command", ("serach",), "serach"),
    Case("sweep-no-action", ("sweep",), "ACTION"),
]

CASES: list[Case] = SEARCH + EVALUATE + SWEEP_RUN + SWEEP_DIR + REPORT


def test_corpus_is_large_and_covers_every_entry_point() -> None:
    assert len(CASES) >= 200
    assert len({c.id for c in CASES}) == len(CASES)
    entry = {c.argv[0] if c.argv[0] != "sweep" else f"sweep {c.argv[1]}" for c in CASES}
    assert entry == {"search", "evaluate", "sweep run", "sweep resume", "sweep confirm", "sweep status", "report"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace: conf.yaml, spec.yaml, geno.json, results/run (a real 1-epoch search), sweep/."""
    from diffnas.sweeps.results_folder import sweep_document, write_sweep
    from diffnas.sweeps.spec import parse_spec

    ws = tmp_path_factory.mktemp("corpus")
    (ws / "conf.yaml").write_text(_yaml(CONFIG))
    (ws / "spec.yaml").write_text(_yaml(SPEC))
    (ws / "geno.json").write_text(json.dumps(GENOTYPE))
    assert main(["search", "--config", str(ws / "conf.yaml"), "--quiet", "--out", str(ws / "results" / "run")]) == 0
    doc = sweep_document(parse_spec(SPEC))
    doc["experiments"].append({"name": "explore", "phase": "explore", "finished": True, "seeds": [0], "trials": 1})
    write_sweep(str(ws / "sweep"), doc)
    shutil.copytree(ws / "results" / "run" / "epochs", ws / "sweep" / "epochs")
    shutil.copytree(ws / "results" / "run" / "trials", ws / "sweep" / "trials")
    return ws


@pytest.fixture
def no_expensive_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting Ray, loading a dataset for training, training or evaluating fails the test."""
    import diffnas.search.run
    import diffnas.selection.evaluate
    import diffnas.sweeps.commands
    import diffnas.sweeps.session

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an expensive step started for a bad input")

    monkeypatch.setattr(diffnas.sweeps.commands, "open_session", refuse)
    monkeypatch.setattr(diffnas.sweeps.session, "connect", refuse)
    monkeypatch.setattr(diffnas.search.run.SearchRun, "__init__", refuse)
    monkeypatch.setattr(diffnas.selection.evaluate, "evaluate_genotype", refuse)


def _check(case: Case, template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(template, ws, symlinks=True)
    if case.setup is not None:
        case.setup(ws)
    monkeypatch.chdir(ws)
    before = tree_state(ws)
    capsys.readouterr()
    code = main(list(case.argv))
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, (code, captured.err[-500:])
    assert len(lines) == 1, captured.err[-1000:]
    line = lines[0]
    assert len(line) <= 200, line
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert case.names in line, line
    assert tree_state(ws) == before, "the workspace changed"


@pytest.mark.parametrize("case", CASES + TOP, ids=lambda c: c.id)
def test_bad_input_one_line_exit_2_nothing_written(case: Case, template: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, capsys, no_expensive_steps) -> None:
    _check(case, template, tmp_path, monkeypatch, capsys)


def test_tree_state_sees_changes(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("1")
    before = tree_state(tmp_path)
    (tmp_path / "a").write_text("2")
    assert tree_state(tmp_path) != before
    os.remove(tmp_path / "a")
    assert tree_state(tmp_path) == {}
