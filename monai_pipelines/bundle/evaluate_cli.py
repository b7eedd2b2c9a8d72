"""`monai-pipelines evaluate BUNDLE --test-patients P [P ...]`: a trained run evaluated on a chosen list of subjects.

The source guide's ``test_model.py --checkpoint ... --test-patients ...``. It runs the bundle's own evaluation
(``python -m monai.bundle run evaluating`` with train.json + evaluate.json) with ``--subjects``, so the results, files
and one-line errors are the bundle's: ``metrics/subjects_metrics.csv``, ``metrics/subjects_summary.json``,
``predictions/subjects/``, ``plots/subjects/`` in the run folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from monai_pipelines.utils.paths import bundle_root

__all__ = ["add_parser", "evaluate_command"]

# command-line option -> bundle setting
_SETTINGS = {"checkpoint": "ckpt_path", "run_name": "run_name", "fold": "fold", "dataset_dir": "dataset_dir",
             "manifest": "manifest", "output_dir": "output_dir"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``evaluate``."""
    parser = subparsers.add_parser(
        "evaluate", help="evaluate a trained run on chosen subjects (the guide's test_model.py --test-patients)",
        description=__doc__)
    parser.add_argument("bundle", help="bundle name, e.g. mri_to_ct_unet3d (its evaluate.json takes 'subjects')")
    parser.add_argument("--test-patients", "--subjects", dest="subjects", nargs="+", required=True, metavar="SUBJECT",
                        help="subject ids, or paths whose last part is the subject (data/set/patient_051), from any "
                        "split of the manifest, evaluated in this order")
    parser.add_argument("--checkpoint", help="checkpoint file (default: the run's best checkpoint)")
    parser.add_argument("--run-name", dest="run_name", help="run name, as given to training (default: 'default')")
    parser.add_argument("--fold", type=int, help="fold the run was trained with (default 0)")
    parser.add_argument("--dataset-dir", dest="dataset_dir", help="dataset folder (default: the demo data)")
    parser.add_argument("--manifest", help="manifest file (default: DATASET_DIR/manifest.json)")
    parser.add_argument("--output-dir", dest="output_dir", help="run folder (default: bundles/BUNDLE/runs/RUN/fold_K)")
    parser.set_defaults(func=_evaluate)


def evaluate_command(args: argparse.Namespace) -> list[str]:
    """The ``python -m monai.bundle run evaluating`` command line for ``args``."""
    configs = Path(bundle_root(args.bundle)) / "configs"
    evaluate = configs / "evaluate.json"
    if not evaluate.is_file():
        raise FileNotFoundError(f"{evaluate}: no bundle {args.bundle!r} with an evaluation config here.")
    if "subjects" not in json.loads(evaluate.read_text(encoding="utf-8")):
        raise ValueError(f"bundle {args.bundle!r}: its evaluate.json has no 'subjects' setting; evaluate a split with "
                         f"python -m monai.bundle run evaluating (--eval_split).")
    files = f"['{configs / 'train.json'}','{evaluate}']"
    cmd = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file", files,
           "--subjects", repr([str(s) for s in args.subjects])]
    for option, setting in _SETTINGS.items():
        value = getattr(args, option, None)
        if value is not None:
            cmd += [f"--{setting}", str(value)]
    return cmd


def _evaluate(args: argparse.Namespace) -> int:
    return subprocess.call(evaluate_command(args))
