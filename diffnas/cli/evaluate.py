"""``diffnas evaluate``: retrain a genotype from scratch (module level: stdlib only).

Every flag is range-checked by argparse and ``genotype.json`` (as written by ``diffnas search``)
is checked field by field before any data is loaded: one line naming the flag or field, exit 2.
Evaluate writes no files; it prints the test accuracy.
"""

from __future__ import annotations

import argparse
from typing import Any

from diffnas.inputs import nonempty_arg, number_arg

MAX_EPOCHS = 100_000  # the same cap as the search config's epochs
MAX_SEED = 2**32 - 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("genotype", metavar="GENOTYPE_JSON", help="genotype.json written by 'diffnas search'")
    p.add_argument("--dataset", default=None, type=nonempty_arg, help="dataset (default: the one searched on)")
    p.add_argument("--data-dir", default=None, type=nonempty_arg, help="dataset folder (fashion_mnist)")
    p.add_argument("--epochs", type=number_arg(int, 1, MAX_EPOCHS), default=20,
                   help=f"training epochs, 1..{MAX_EPOCHS} (default 20)")
    p.add_argument("--subset", type=number_arg(int, 20), default=None, help="training examples to use (>= 20)")
    p.add_argument("--resolution", type=number_arg(int, 4, 64), default=None,
                   help="resize images to this side (4..64)")
    p.add_argument("--seed", type=number_arg(int, 0, MAX_SEED), default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=number_arg(int, 1, 256), default=1, help="torch threads, 1..256 (default 1)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


_SECTIONS = {"data": ("subset", "resolution", "test_fraction", "dir"),
             "model": ("channels", "cells_per_stage", "stages")}


def read_genotype(path: str) -> dict[str, Any]:
    """``genotype.json`` checked field by field against the search config's own limits."""
    from diffnas.config import FIELDS, SPACE_OPS
    from diffnas.errors import InputError
    from diffnas.inputs import expect, load_json, shown

    field = "GENOTYPE_JSON"
    spec = load_json(path, field, "genotype.json file")
    expect(spec, dict, field, "a JSON object with space, genotype, ops, dataset, data, model")
    for key in ("space", "genotype"):
        if key not in spec:
            raise InputError(field, f"{path} has no {key!r}; expected the genotype.json of diffnas search")
    if spec["space"] not in SPACE_OPS:
        raise InputError(f"{field} space", f"must be one of {', '.join(SPACE_OPS)}, got {shown(spec['space'])}")
    expect(spec["genotype"], str, f"{field} genotype", "a genotype string")
    ops = spec.get("ops")
    if ops is not None and (not isinstance(ops, list) or not ops or not all(isinstance(o, str) for o in ops)):
        raise InputError(f"{field} ops", f"must be a non-empty list of op names or null, got {shown(ops)}")
    if "dataset" in spec:
        expect(spec["dataset"], str, f"{field} dataset", "a dataset name")
    for section, keys in _SECTIONS.items():
        values = spec.get(section, {})
        if values is None:
            continue
        expect(values, dict, f"{field} {section}", f"an object with {', '.join(keys)}")
        for key, value in values.items():
            if key not in keys:
                raise InputError(f"{field} {section}.{str(key)[:30]}", f"unknown key; allowed: {', '.join(keys)}")
            try:
                dotted = f"{section}.{key}"
                values[key] = FIELDS[dotted].coerce(dotted, value)
            except InputError as err:
                raise InputError(f"{field} {err.field}", err.message) from None
    return spec


def run(args: argparse.Namespace) -> int:
    """Retrain the genotype and print its test accuracy."""
    from diffnas.data import check_dataset
    from diffnas.errors import InputError
    from diffnas.inputs import shown

    spec = read_genotype(args.genotype)
    space, genotype = spec["space"], spec["genotype"]
    dataset = args.dataset or spec.get("dataset", "digits")
    searched = (spec.get("data") or {}) if dataset == spec.get("dataset") else {}
    # default to the search's data settings, so the held-out test split is the one the search never saw
    data_dir = args.data_dir or searched.get("dir")
    subset = args.subset if args.subset is not None else searched.get("subset")
    resolution = args.resolution if args.resolution is not None else searched.get("resolution")
    test_fraction = searched.get("test_fraction", 0.2)
    check_dataset(dataset, data_dir)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError("--device", "cuda requested but no CUDA device is available; allowed here: auto, cpu")
    from diffnas.model.spaces import build_space, choice_from_genotype
    from diffnas.search.device import resolve_device
    from diffnas.selection.evaluate import evaluate_genotype

    try:
        choice_from_genotype(build_space(space, spec.get("ops")), genotype)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise InputError("GENOTYPE_JSON genotype", shown(str(err), 120)) from None
    model = spec.get("model") or {}
    result = evaluate_genotype(
        space, spec.get("ops"), genotype, dataset=dataset, data_dir=data_dir, subset=subset,
        resolution=resolution, test_fraction=test_fraction, epochs=args.epochs, channels=model.get("channels", 8),
        cells_per_stage=model.get("cells_per_stage", 1), stages=model.get("stages", 2), seed=args.seed,
        threads=args.threads, device=str(resolve_device(args.device)),
    )
    print(f"test_acc {result.test_acc:.4f}  train_acc {result.train_acc:.4f}  params {result.params}  "
          f"epochs {result.epochs}")
    return 0


