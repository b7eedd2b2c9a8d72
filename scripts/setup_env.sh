#!/usr/bin/env bash
# Create ./.venv (once) with the CPU torch wheel first, then the package; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# extras: "geo" (rasterio, for the glacier bundle's GeoTIFFs) by default, so every bundle runs; test.sh passes "dev"
# (which includes rasterio); "" installs the core package only
EXTRAS=${1-geo}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
# torch first: a bare dependency on torch would otherwise pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q -e ".${EXTRAS:+[$EXTRAS]}"
