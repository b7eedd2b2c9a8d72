#!/usr/bin/env bash
# Train every cross-validation fold of a bundle in sequence, then summarise the folds.
#   scripts/run_folds.sh <bundle> [--folds K] [monai.bundle overrides...]
# e.g. scripts/run_folds.sh glioma_grade_resnet50_3d --folds 5 --run_name cv1 --epochs 50
# Folds run one after another with the same overrides (--fold is set here); a fold that was interrupted resumes
# from its newest checkpoint when the script runs again. Ends with `cv-summary` over runs/<run_name>/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python
bundle="${1:?usage: scripts/run_folds.sh <bundle> [--folds K] [overrides...]}"
shift
config="bundles/$bundle/configs/train.json"
[ -f "$config" ] || { echo "error: $config not found" >&2; exit 1; }
folds=5
run_name=default
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --folds) folds="$2"; shift 2 ;;
        --fold) echo "error: --fold is set by this script; use --folds K" >&2; exit 1 ;;
        --run_name) run_name="$2"; args+=("$1" "$2"); shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
for ((k = 0; k < folds; k++)); do
    echo "=== $bundle: fold $k of $folds (run $run_name) ==="
    "$PYTHON" -m monai.bundle run training --config_file "$config" \
        --logging_file "bundles/$bundle/configs/logging.conf" --fold "$k" ${args[@]+"${args[@]}"}
done
"$PYTHON" -m monai_pipelines.metrics.cv_summary "bundles/$bundle/runs/$run_name"
