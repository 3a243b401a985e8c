"""Arguments and handler of ``diffnas report`` (standard library only at module level, so that
``diffnas --help`` stays instant; pandas, scipy and matplotlib are imported inside :func:`run`)."""

from __future__ import annotations

import argparse

from diffnas.inputs import nonempty_arg, number_arg

_FORMATS = ("csv", "md", "tex", "parquet", "html")
_PLOTS = ("convergence", "op_probs", "cell", "outcome", "diagnostics")


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``report`` flags to ``parser``."""
    parser.description = (
        "Convergence summaries per run, per-config aggregates across seeds with bootstrap confidence "
        "intervals, comparisons against a baseline config, plots (PNG+SVG) and tables "
        "(CSV, Markdown, LaTeX, Parquet, self-contained HTML). Needs neither torch nor Ray."
    )
    parser.add_argument("results", nargs="+", metavar="RESULTS",
                        help="results folder(s) holding epochs/*.parquet (and trials/*.parquet, sweep.json)")
    parser.add_argument("--out", required=True, metavar="DIR", type=nonempty_arg,
                        help="output folder (written atomically: replaced only when the report is complete)")
    parser.add_argument("--baseline", metavar="EXPR",
                        help="baseline config: key=value pairs without the config/ prefix "
                             "(e.g. sampler=softmax,entropy_weight=0) or a config_id; default: sweep.json's baseline")
    parser.add_argument("--group-by", metavar="KEYS",
                        help="comma-separated config keys to group runs by "
                             "(default: every config key that varies, except the seed)")
    parser.add_argument("--convergence", default="entropy_drop", metavar="CRITERION",
                        help="when a run has settled: entropy_drop (default; the sampler's effective entropy "
                             "has lost X of its value after epoch 1, X default 0.5), entropy_eff (effective "
                             "entropy / log #ops < X, default 0.3), entropy (entropy_norm of softmax(alpha) < X, "
                             "default 0.3: the source material's), genotype (argmax genotype unchanged for --window epochs)")
    parser.add_argument("--threshold", type=number_arg(float, 0.0, 1.0, exclusive_min=True), default=None,
                        metavar="X", help="the convergence criterion's threshold (default: the criterion's own)")
    parser.add_argument("--window", type=number_arg(int, 1, 100_000), default=3, metavar="W",
                        help="stabilisation: argmax genotype unchanged for W consecutive epochs (default 3)")
    parser.add_argument("--collapse", type=number_arg(float, 0.0, 1.0, exclusive_min=True), default=0.5, metavar="S",
                        help="collapse flag: final share of skip_connect edges >= S (default 0.5)")
    parser.add_argument("--format", type=_csv_list, default=list(_FORMATS), metavar="LIST",
                        help=f"comma-separated output formats (default: {','.join(_FORMATS)})")
    parser.add_argument("--plots", type=_csv_list, default=list(_PLOTS), metavar="LIST",
                        help=f"comma-separated plots, or 'none' (default: {','.join(_PLOTS)})")
    parser.add_argument("--phase", choices=("single", "explore", "confirm"),
                        help="phase to compare (default: confirm when present, else explore, else single)")
    parser.add_argument("--metric", help="rank configs by this summary metric "
                                         "(default: sweep.json's metric, else final_val_acc)")
    parser.add_argument("--mode", choices=("max", "min"), help="ranking direction (default: sweep.json's, else max)")
    parser.add_argument("--n-resamples", type=number_arg(int, 100, 1_000_000), default=2000, metavar="B",
                        help="bootstrap resamples for confidence intervals (default 2000)")
    parser.add_argument("--confidence", type=number_arg(float, 0.0, 0.9999, exclusive_min=True), default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--seed", type=number_arg(int, 0, 2**32 - 1), default=0, help="seed of the bootstrap generator (default 0)")
    parser.add_argument("--max-curves", type=number_arg(int, 1, 100), default=8, metavar="K",
                        help="convergence curves for at most K configs (top-ranked plus the baseline)")
    parser.add_argument("--featured", metavar="TRIAL_ID",
                        help="run whose op probabilities and cell are drawn (default: best run of the top config)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    """Write the report; bad input raises InputError (the CLI prints one line, exit 2)."""
    from diffnas.analysis.report import ReportOptions, stderr_progress, write_report

    plots = [] if args.plots in (["none"], []) else list(args.plots)
    opts = ReportOptions(
        results=list(args.results), out=args.out, baseline=args.baseline, group_by=args.group_by,
        threshold=args.threshold, convergence=args.convergence, window=args.window, collapse=args.collapse,
        formats=list(args.format),
        plots=plots, n_resamples=args.n_resamples, confidence=args.confidence, seed=args.seed,
        phase=args.phase, metric=args.metric, mode=args.mode, max_curves=args.max_curves,
        featured=args.featured, progress=(lambda msg: None) if args.quiet else stderr_progress,
    )
    written = write_report(opts)
    if not args.quiet:
        total = sum(len(v) for v in written.values())
        _print_ranking(args.out)
        print(f"diffnas report: wrote {total} files to {args.out}")
    return 0


def _print_ranking(out: str) -> None:
    """Echo the report's ranking section (Markdown) so the comparison shows in the terminal."""
    from diffnas import storage

    data = storage.read_bytes(storage.join(storage.normalize(out), "report.md"))
    if data is None:
        return
    lines = data.decode("utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("## Ranking")), None)
    if start is None:
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    print("\n".join(lines[start:end]).rstrip() + "\n")
