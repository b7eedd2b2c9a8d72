"""`monai-pipelines`: prepare data, build and validate manifests, compare runs, summarise folds.

``monai-pipelines --version`` prints ``monai-pipelines <version>``.

Each sub-command lives next to the code it drives and exposes ``add_parser(subparsers)``, which
registers the command and sets ``func`` (taking the parsed args, returning an exit code).
Errors a user can cause (``ValueError``, ``FileNotFoundError``) print one line and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from monai_pipelines import __version__

# "module" paths exposing add_parser(subparsers); one line per command group.
COMMAND_MODULES: tuple[str, ...] = (
    "monai_pipelines.bundle.evaluate_cli",
    "monai_pipelines.data.manifest_cli",
    "monai_pipelines.data.ixi_cli",
    "monai_pipelines.metrics.compare_runs",
    "monai_pipelines.metrics.cv_summary",
    "monai_pipelines.metrics.nifti_metrics",
    "monai_pipelines.metrics.synthesis_visualize",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monai-pipelines", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
