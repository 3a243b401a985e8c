"""``diffnas sweep run | resume | confirm | status``: argument parsing (stdlib only at import).

Each handler imports Ray, torch and the sweep modules lazily, so ``diffnas --help`` stays instant.
A bad spec, folder or flag raises :class:`diffnas.errors.InputError` before Ray starts (resource
checks need the cluster: they run right after connecting, before any trial or file is written).
"""

from __future__ import annotations

import argparse

from diffnas.inputs import nonempty_arg, number_arg

_LAYOUT = ("results folder layout: DIR/sweep.json (name, metric, mode, baseline, spec), "
           "DIR/epochs/*.parquet, DIR/trials/*.parquet (the results schema), DIR/ray/<experiment>/ "
           "(Tune's experiment state and checkpoints)")


def _ray_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", default=None,
                   help="join this running Ray cluster (default: $RAY_ADDRESS, else start local Ray here)")
    p.add_argument("--num-cpus", type=number_arg(int, 1, 4096), default=None,
                   help="CPUs of the local Ray, >= 1 (default: all)")
    p.add_argument("--verbose", action="store_true", help="show Ray's and Tune's own output")


def _resource_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-resource-check", dest="resource_check", action="store_false",
                   help="skip the check that some node can hold one trial (autoscaling clusters whose "
                        "workers are not up yet)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sweep_command", metavar="ACTION", parser_class=type(parser))

    p = sub.add_parser("run", help="validate a sweep spec and run its explore phase on Ray Tune",
                       description="Validate SPEC (any problem: one line, exit 2, nothing written), then run "
                                   "its explore phase. " + _LAYOUT)
    p.add_argument("spec", metavar="SPEC", help="sweep spec YAML (see sweeps/*.yaml)")
    p.add_argument("--storage", metavar="DIR", default=None, type=nonempty_arg,
                   help="results folder, local or a bucket URI (default: ./results/<name>)")
    p.add_argument("--name", default=None, type=nonempty_arg, help="sweep name (default: the spec's name)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the spec's base (a config key, repeatable), e.g. "
                        "--set data.dir=/data/cifar on this cluster; recorded in sweep.json")
    _ray_options(p)
    _resource_option(p)
    p.set_defaults(handler=_run)

    p = sub.add_parser("resume", help="continue an interrupted sweep from Tune's experiment state",
                       description="Continue the unfinished experiment (explore or a confirm round) of the "
                                   "sweep in DIR; trials restart from their last checkpoints and every "
                                   "(trial_id, epoch) row is written exactly once.")
    p.add_argument("dir", metavar="DIR", help="the sweep's results folder")
    _ray_options(p)
    p.set_defaults(handler=_resume)

    p = sub.add_parser(
        "confirm", help="re-run the top-K configs and the baseline with fresh seeds (FIFO, full epochs)",
        description="Rank the explore configs by the spec's metric at the highest epoch that EVERY explored "
                    "config reached (mean over that config's runs at that epoch; with ASHA usually the "
                    "grace period; runs that diverged or errored are left out), then re-run the K best and the spec's baseline with N seeds not used "
                    "before in this sweep, on a FIFO scheduler to the full epoch budget, as phase "
                    "'confirm' into the same results folder. ASHA prunes individual seeds, so only "
                    "confirm runs give unbiased multi-seed comparisons.")
    p.add_argument("dir", metavar="DIR", help="the sweep's results folder")
    p.add_argument("--top-k", type=number_arg(int, 1, 10_000), default=None, help="how many best configs (default: the spec's "
                                                           "confirm.top_k)")
    p.add_argument("--seeds", type=number_arg(int, 1, 10_000), default=None, help="fresh seeds per config (default: the spec's "
                                                           "confirm.seeds)")
    p.add_argument("--per", metavar="AXIS", default=None,
                   help="keep the top K configs of EVERY value of this axis (e.g. sampler), each value ranked "
                        "on its own rung, so no value drops out of the comparison; 'none' ranks all configs "
                        "together (default: the spec's confirm.per)")
    _ray_options(p)
    _resource_option(p)
    p.set_defaults(handler=_confirm)

    p = sub.add_parser("status", help="trials by status, best so far, epochs consumed",
                       description="Summarise a sweep's results folder (reads Parquet only; no Ray).")
    p.add_argument("dir", metavar="DIR", help="the sweep's results folder")
    p.set_defaults(handler=_status)


def _run(args: argparse.Namespace) -> int:
    from diffnas import storage
    from diffnas.results.outputs import check_storage
    from diffnas.sweeps.preflight import check_inputs
    from diffnas.sweeps.spec_file import load_spec

    spec = load_spec(args.spec, name=args.name, overrides=args.overrides)
    check_storage(args.storage if args.storage is not None else f"results/{spec.name}")
    if args.storage is not None:
        storage.probe(args.storage, "--storage")  # an endpoint that does not answer: one line, before Ray
    check_inputs(spec)
    from diffnas.sweeps.commands import run_sweep

    return run_sweep(spec, storage=args.storage, address=args.address, num_cpus=args.num_cpus,
                     verbose=args.verbose, resource_check=args.resource_check)


def _probe_dir(location: str) -> None:
    from diffnas import storage

    storage.probe(location, "DIR")


def _resume(args: argparse.Namespace) -> int:
    from diffnas.sweeps.commands import resume_sweep

    _probe_dir(args.dir)
    return resume_sweep(args.dir, address=args.address, num_cpus=args.num_cpus, verbose=args.verbose)


def _confirm(args: argparse.Namespace) -> int:
    from diffnas.sweeps.commands import confirm_sweep

    _probe_dir(args.dir)
    return confirm_sweep(args.dir, top_k=args.top_k, n_seeds=args.seeds, address=args.address,
                         num_cpus=args.num_cpus, verbose=args.verbose, resource_check=args.resource_check,
                         per=args.per)


def _status(args: argparse.Namespace) -> int:
    from diffnas.sweeps.commands import status_text

    _probe_dir(args.dir)
    print(status_text(args.dir))
    return 0
