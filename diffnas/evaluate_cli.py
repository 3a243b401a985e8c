"""``diffnas evaluate``: retrain a genotype from scratch (module level: stdlib only)."""

from __future__ import annotations

import argparse
import json
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("genotype", metavar="GENOTYPE_JSON", help="genotype.json written by 'diffnas search'")
    p.add_argument("--dataset", default=None, help="dataset (default: the one searched on)")
    p.add_argument("--data-dir", default=None, help="dataset folder (fashion_mnist)")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--subset", type=int, default=None, help="training examples to use")
    p.add_argument("--resolution", type=int, default=None, help="resize images to this side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def run(args: argparse.Namespace) -> int:
    """Retrain the genotype and print its test accuracy."""
    from diffnas.data import check_dataset
    from diffnas.errors import InputError

    if not os.path.isfile(args.genotype):
        raise InputError("GENOTYPE_JSON", f"file not found: {args.genotype}")
    try:
        with open(args.genotype, encoding="utf-8") as fh:
            spec = json.load(fh)
        space, genotype = spec["space"], spec["genotype"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError("GENOTYPE_JSON", f"{args.genotype} needs JSON with 'space' and 'genotype' ({err})") from None
    if args.epochs < 1:
        raise InputError("--epochs", f"must be an integer >= 1, got {args.epochs}")
    dataset = args.dataset or spec.get("dataset", "digits")
    searched = spec.get("data", {}) if dataset == spec.get("dataset") else {}
    # default to the search's data settings, so the held-out test split is the one the search never saw
    data_dir = args.data_dir or searched.get("dir")
    subset = args.subset if args.subset is not None else searched.get("subset")
    resolution = args.resolution if args.resolution is not None else searched.get("resolution")
    test_fraction = searched.get("test_fraction", 0.2)
    check_dataset(dataset, data_dir)
    from diffnas.evaluate import evaluate_genotype
    from diffnas.run import resolve_device
    from diffnas.spaces import build_space, choice_from_genotype

    try:
        choice_from_genotype(build_space(space, spec.get("ops")), genotype)
    except (ValueError, KeyError) as err:
        raise InputError("GENOTYPE_JSON", str(err)) from None
    model = spec.get("model", {})
    result = evaluate_genotype(
        space, spec.get("ops"), genotype, dataset=dataset, data_dir=data_dir, subset=subset,
        resolution=resolution, test_fraction=test_fraction, epochs=args.epochs, channels=model.get("channels", 8),
        cells_per_stage=model.get("cells_per_stage", 1), stages=model.get("stages", 2), seed=args.seed,
        threads=args.threads, device=str(resolve_device(args.device)),
    )
    print(f"test_acc {result.test_acc:.4f}  train_acc {result.train_acc:.4f}  params {result.params}  "
          f"epochs {result.epochs}")
    return 0
