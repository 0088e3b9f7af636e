"""The ``workbench`` command line: a thin layer over the ``core`` library.

Commands that do not run a network never import torch, so they start fast.
Every expected failure (bad checkpoint, bad image, bad flag) ends with a
one-line ``error: ...`` on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import sys

from core.cli.app import add_demo_parser, add_ui_parser
from core.cli.arguments import EXIT_FAILED, EXIT_USAGE
from core.cli.data import add_datasets_parser, add_overfit_parser, add_train_parser
from core.cli.doctor import add_doctor_parser
from core.cli.export import add_export_parser
from core.cli.pipeline import add_inspect_parser, add_pipeline_parser, add_vectorize_parser
from core.cli.ranking import add_rank_parser, add_vote_parser
from core.cli.rerun import add_rerun_parser
from core.cli.sweep import add_bench_parser, add_results_parser, add_sweep_parser
from core.errors import UsageError, WorkbenchError

# One entry per command, in the order --help lists them.
PARSERS = (add_pipeline_parser, add_inspect_parser, add_vectorize_parser, add_sweep_parser, add_results_parser,
           add_rerun_parser, add_bench_parser, add_doctor_parser, add_ui_parser, add_datasets_parser, add_train_parser,
           add_overfit_parser, add_demo_parser, add_vote_parser, add_rank_parser, add_export_parser)


def package_version() -> str:
    """The installed distribution's version, or ``core.__version__`` when run from a plain checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sketch-workbench")
    except PackageNotFoundError:
        import core

        return core.__version__


class ShowVersion(argparse.Action):
    """``--version``: print ``workbench X.Y.Z`` and exit (the version is looked up only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0,
                         help="show the installed version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {package_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``workbench`` parser with every command (imports no library module: ``--help`` stays fast)."""
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Sketch Workbench: run, sweep and compare image-to-sketch checkpoints.",
    )
    parser.add_argument("--version", action=ShowVersion)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in PARSERS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; return the exit status (0 ok, 1 failed, 2 usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
