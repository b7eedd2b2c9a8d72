#!/usr/bin/env bash
# Set up ./.venv with the dev extras and run the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh dev
.venv/bin/python -m ruff check monai_pipelines tests benchmarks
exec .venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15 "$@"
