"""``diffnas search``: one search run to a results folder (module level: stdlib only).

Writes ``OUT/epochs/<trial>-e<epoch>.parquet`` after every epoch, ``OUT/trials/<trial>.parquet``
at the end, ``OUT/genotype.json`` and ``OUT/config.yaml``; a checkpoint ``OUT/checkpoint.pt``
after every epoch lets the same command continue a killed run where it stopped. ``OUT`` may be an
``s3://bucket/prefix`` (:mod:`diffnas.storage`): every file goes there, none to a local folder, and
an endpoint that does not answer is one line before the data is loaded.
"""

from __future__ import annotations

import argparse
import re
import sys

CHECKPOINT = "checkpoint.pt"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML search config (default: built-in defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, dotted (e.g. --set temperature.schedule=cosine, "
                        "--set entropy_weight=0.1: > 0 sharpens the op distribution, < 0 rewards exploration)")
    p.add_argument("--out", metavar="DIR", default="runs/search", help="results folder (default: runs/search)")
    p.add_argument("--data-dir", metavar="DIR", help="dataset folder (same as --set data.dir=DIR)")
    p.add_argument("--name", default="search", help="value of the 'sweep' column (default: search)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--profile", action="store_true",
                   help="print where each epoch's time goes (alpha step, weight step, evaluation, metrics, "
                        "writing) and the run's totals, on stderr")
    p.add_argument("--loggers", metavar="NAMES", default=None,
                   help="also send the run to these trackers, comma-separated: tensorboard, mlflow, wandb (each "
                        "needs its extra, e.g. pip install 'diffnas[mlflow]'); written offline inside --out "
                        "(tensorboard/, mlflow/mlflow.db, wandb/); MLFLOW_TRACKING_URI or a W&B login sends "
                        "them to a server instead")
    p.add_argument("--list-keys", action="store_true",
                   help="print every config key with its default, what is allowed and what it does, then exit")


def prepare(args: argparse.Namespace):
    """Validate everything that can be checked before anything is written."""
    from diffnas.config import load_config
    from diffnas.data import check_dataset
    from diffnas.errors import InputError
    from diffnas.inputs import shown
    from diffnas.results.outputs import check_search_out
    from diffnas.selection.truth import check_table
    from diffnas.tracking import check_loggers

    overrides = list(args.overrides)
    if args.data_dir is not None:
        if not args.data_dir.strip():
            raise InputError("--data-dir", "must be a non-empty folder path")
        overrides.append(f"data.dir={args.data_dir}")
    if not _NAME.match(args.name or ""):
        raise InputError("--name", f"must be letters, digits, '_', '.', '-' (a short identifier), got {shown(args.name)}")
    args.loggers = check_loggers(getattr(args, "loggers", None), "--loggers")
    check_search_out(args.out, CHECKPOINT)
    config = load_config(args.config, overrides)
    check_dataset(config["dataset"], config["data.dir"])
    if config["device"] == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError("device", "cuda requested but no CUDA device is available; allowed here: auto, cpu")
    if config["truth.table"]:
        check_table(config["truth.table"], config.truth_column)
    return config


def run(args: argparse.Namespace) -> int:
    """Run one differentiable architecture search and write its results folder."""
    if args.list_keys:
        from diffnas.config import SEARCH_KEYS  # the public keys: the test suite's fault hooks are not listed
        from diffnas.config.recipes import RECIPES, sampler_defaults

        for key, spec in SEARCH_KEYS.items():
            print(f"{key:32s} default {spec.default!r:12s} {spec.allowed()} — {spec.help}")
        epochs = SEARCH_KEYS["epochs"].default
        print(f"\nEach sampler's own defaults (recipe: sampler) where they differ from the above, at epochs {epochs} "
              "(warmup_epochs, optim.a_lr and prune.epoch scale with epochs; a key you set always wins; "
              "docs/search.md, 'Defaults per sampler'):")
        for sampler, values in sampler_defaults(epochs).items():
            print(f"  {sampler:12s} {RECIPES[sampler].why}")
            print("               " + ", ".join(f"{k}={v!r}" for k, v in values.items()))
        return 0
    config = prepare(args)
    import io
    import json
    import math

    import torch
    import yaml

    from diffnas import storage
    from diffnas.cli.progress import Progress
    from diffnas.errors import InputError
    from diffnas.results.parts import write_part
    from diffnas.results.records import identity_columns, with_identity
    from diffnas.search.run import SearchRun
    from diffnas.tracking.backends import open_run_trackers

    out = args.out if storage.is_remote(args.out) else storage.local_path(args.out)
    ckpt = storage.join(out, CHECKPOINT)
    trial_id = f"{config.config_id()}-s{config['seed']}"
    identity = identity_columns(config, trial_id=trial_id, sweep=args.name, phase="single")

    def write(fn):  # an object store that stops answering is waited for (diffnas.storage.retrying)
        return storage.retrying(fn) if storage.is_remote(out) else fn()

    if storage.is_file(ckpt):
        try:
            state = torch.load(io.BytesIO(storage.read_bytes(ckpt) or b""), map_location="cpu", weights_only=False)
        except Exception:  # noqa: BLE001 - any unreadable checkpoint is the same bad input
            raise InputError("--out", f"{ckpt} is not a readable diffnas checkpoint; choose a new folder") from None
        if not isinstance(state, dict):
            raise InputError("--out", f"{ckpt} is not a diffnas checkpoint; choose a new folder")
        if state.get("config_id") != config.config_id() or state.get("seed") != config["seed"]:
            raise InputError("--out", f"{out} holds a run of another config; choose a new folder")
        search = SearchRun(config)
        search.load_state_dict(state)
        print(f"resuming {trial_id} after epoch {search.epoch}", file=sys.stderr)
    else:
        search = SearchRun(config)
        text = yaml.safe_dump(config.to_nested(), sort_keys=True).encode("utf-8")
        write(lambda: storage.atomic_write(storage.join(out, "config.yaml"), text))

    trackers = open_run_trackers(args.loggers, out, experiment=args.name, trial_id=trial_id, config=config,
                                 space=search.space)
    bar = Progress(config["epochs"], label=f"{config['sampler']} ", enabled=not args.quiet)
    profile = search.profile
    profile.sync = args.profile and search.device.type == "cuda"
    while not search.done:
        record = search.step()
        profile.start_lap()
        row, part = with_identity(identity, record), f"{trial_id}-e{record['epoch']:05d}"
        write(lambda row=row, part=part: write_part([row], out, "epochs", name=part))
        write(lambda: search.save(ckpt))
        if trackers is not None:
            trackers.epoch(record)
        profile.lap("writing")
        bar.update(search.epoch, val_acc=record["val_acc"], entropy_norm=record["entropy_norm"])
        if args.profile:
            print(profile.format(profile.current, f"epoch {record['epoch']}"), file=sys.stderr)
    bar.close()
    if args.profile and profile.epochs:
        print(profile.format(profile.total, f"profile, {profile.epochs} epochs"), file=sys.stderr)
    trial = search.trial_record()
    if trackers is not None:
        trackers.end(trial, failed=trial["status"] == "error")
    write(lambda: write_part([with_identity(identity, trial)], out, "trials", name=trial_id))
    # the handed-back cell (best_cell.rule) is what `diffnas evaluate` retrains; the final cell beside it
    handed = trial["best_genotype"] or trial["final_genotype"]
    truth = trial["best_truth_acc"]
    genotype = {"space": search.space.name, "ops": list(search.space.ops), "genotype": handed,
                "handed_back": {"by": trial["best_by"], "epoch": trial["best_epoch"],
                                "truth_acc": None if math.isnan(truth) else truth},
                "final_genotype": trial["final_genotype"], "final_params": trial["params"],
                "dataset": config["dataset"],
                "model": {k[6:]: config[k] for k in ("model.channels", "model.cells_per_stage", "model.stages")},
                "data": {k[5:]: config[k] for k in ("data.subset", "data.resolution", "data.test_fraction",
                                                    "data.dir")}}
    write(lambda: storage.atomic_write(storage.join(out, "genotype.json"), json.dumps(genotype, indent=2).encode()))
    if trial["status"] == "diverged":
        print(f"warning: run diverged at epoch {trial['epochs_run']} ({trial['stop_reason']}); "
              f"rows up to it are kept", file=sys.stderr)
    elif trial["status"] == "early_stopped":
        print(f"stopped early at epoch {trial['epochs_run']} ({trial['stop_reason']})", file=sys.stderr)
    print(f"status {trial['status']}  epochs {trial['epochs_run']}  final val_acc {trial['final_val_acc']:.4f}  "
          f"params {trial['params']}")
    print(f"genotype {trial['final_genotype']}")
    if trial["best_genotype"] is not None and trial["best_genotype"] != trial["final_genotype"]:
        truth = "" if math.isnan(trial["best_truth_acc"]) else f", truth {trial['best_truth_acc']:.2f}"
        print(f"best cell seen {trial['best_genotype']} (epoch {trial['best_epoch']}, by {trial['best_by']}{truth})")
    print(f"results in {out}")
    if trial["status"] == "error":  # the device ran out of memory: its rows are kept, the command failed
        print(f"error: {trial['stop_reason']}; rows up to epoch {trial['epochs_run']} are kept", file=sys.stderr)
        return 1
    return 0
