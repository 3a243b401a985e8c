"""The ``diffnas`` command line: ``search``, ``evaluate``, ``sweep run|resume|confirm|status``, ``report``.

Only the standard library is imported at module level so ``diffnas --help`` answers instantly;
each subcommand imports its package (torch, Ray, pandas ...) inside its handler.
Exit codes: 0 success, 2 bad input (one line naming what is wrong), 1 failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _add_search(sub: argparse._SubParsersAction) -> None:
    from diffnas.cli.search import add_arguments, run

    p = sub.add_parser("search", help="run one differentiable architecture search", description=run.__doc__)
    add_arguments(p)
    p.set_defaults(handler=run)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    from diffnas.cli.evaluate import add_arguments, run

    p = sub.add_parser("evaluate", help="retrain a genotype from scratch and report test accuracy")
    add_arguments(p)
    p.set_defaults(handler=run)


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    from diffnas.sweeps.cli import add_arguments

    p = sub.add_parser("sweep", help="run, resume, confirm or inspect a Ray Tune sweep")
    add_arguments(p)


def _add_report(sub: argparse._SubParsersAction) -> None:
    from diffnas.analysis.cli import add_arguments, run

    p = sub.add_parser("report", help="convergence comparisons, plots and tables from results folders")
    add_arguments(p)
    p.set_defaults(handler=run)


# Registry of subcommands: name -> function that adds its parser (argument modules are stdlib-only).
SUBCOMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "search": _add_search,
    "evaluate": _add_evaluate,
    "sweep": _add_sweep,
    "report": _add_report,
}


def build_parser() -> argparse.ArgumentParser:
    from diffnas import __version__

    parser = _Parser(
        prog="diffnas",
        description="Measure how differentiable NAS samplers converge; fan searches out over Ray Tune.",
    )
    parser.add_argument("--version", action="version", version=f"diffnas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, add in SUBCOMMANDS.items():
        try:
            add(sub)
        except ImportError as err:  # a package of this install is missing: say so when used
            _add_unavailable(sub, name, err)
    return parser


def _add_unavailable(sub: argparse._SubParsersAction, name: str, err: ImportError) -> None:
    def handler(args: argparse.Namespace) -> int:
        print(f"diffnas {name}: unavailable in this install ({err}); "
              f"install the extras: pip install 'diffnas[all]'", file=sys.stderr)
        return EXIT_FAILURE

    p = sub.add_parser(name, help=f"(unavailable: {err})", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(handler=handler)


MAX_LINE = 200


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """``text`` on one line of at most ``limit`` characters (whitespace runs collapsed, the end cut)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 4] + " ..."


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (the console script passes it to ``sys.exit``)."""
    from diffnas.errors import InputError

    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:  # no COMMAND (or no ACTION of `diffnas sweep`)
        if args.command is None:
            print(f"diffnas: error: COMMAND: missing; one of {', '.join(SUBCOMMANDS)} (diffnas --help)",
                  file=sys.stderr)
        else:
            print(f"diffnas {args.command}: error: ACTION: missing (diffnas {args.command} --help)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(handler(args) or 0)
    except InputError as err:
        print(one_line(f"diffnas {args.command}: error: {err}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        # a full disk or an object store that stopped answering, mid-command: one line, exit 1
        # (diffnas.storage.StorageError; a bare ENOSPC from a writer outside that layer is said alike)
        from diffnas import storage

        if not isinstance(err, storage.StorageError) and not storage.is_disk_full(err):
            raise
        if not isinstance(err, storage.StorageError):
            err = storage.write_error(str(getattr(err, "filename", None) or "the output folder"), err)
        print(one_line(f"diffnas {args.command}: error: {err}"), file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:  # output piped into `head` and closed
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("diffnas: interrupted", file=sys.stderr)
        return 130

