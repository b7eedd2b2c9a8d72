#!/usr/bin/env bash
# Every GPU check and figure in one short call on a CUDA machine (a few minutes on an H100):
#   1. tests/bundles/test_cuda.py: fp16 + GradScaler and bf16 autocast through every bundle's trainer (supervised
#      and GAN), channels-last, resume of an AMP run, evaluation, torchrun with NCCL on one GPU, registration on CUDA;
#   2. the full bundle engine against the plain loop: mri_to_ct at fp32 (its profile with the Python calls) and with
#      bf16 + channels-last, each with a profile of 6 iterations of both loops (what the engine runs more: operators,
#      launches, copies, waits), and pix2pix's GAN trainer;
#   3. real IXI T1 + T2 -> PD inference (MM-GAN), registration on the GPU and on the CPU; real-size inference of
#      pix2pix, glioma and glacier in fp32 / autocast / autocast + channels-last; the bundles' optimizers fused (their
#      default) vs torch's foreach implementation;
#   4. the data wait of pix2pix and MM-GAN's training at scale, where a GPU step is short (8 pairs of 512x512x100;
#      5,000 prepared 256^2 slices, cached as memory allows and uncached);
#   5. `python -m benchmarks --size real` on the GPU (the CPU-only data-preparation scripts and the source-scale data
#      path, hours of writing and decoding, left out), torch.compile.
# Each step has a time limit (TESTS_LIMIT, ENGINE_LIMIT, GAN_ENGINE_LIMIT, MMGAN_INFERENCE_LIMIT, INFERENCE_LIMIT,
# OPTIMIZER_LIMIT,
# SCALE_LIMIT, BENCH_LIMIT,
# COMPILE_LIMIT or COMPILE_UNET_LIMIT and COMPILE_GLACIER_LIMIT seconds; 0 skips it); TESTS_K="EXPR" selects tests
# (pytest -k), ONLY="BUNDLE ..." benchmarks. Logs, traces and RESULTS_gpu.md go to OUT_DIR, one line per step to
# OUT_DIR/summary.txt.
#
#     bash benchmarks/gpu_check.sh OUT_DIR
#
# Packages the machine lacks can travel as wheels in .whl/ (installed into /tmp/site first). Real volumes are read
# from MONAI_PIPELINES_REAL_DATA (default ../shared/data/real).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, monai, ignite; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'cuDNN',
torch.backends.cudnn.version(), 'MONAI', monai.__version__, 'ignite', ignite.__version__, torch.cuda.get_device_name(0),
torch.cuda.is_bf16_supported())" | tee -a "$OUT/gpu.txt"

step() {  # step NAME SECONDS COMMAND...: output in $OUT/NAME.log, exit status and time in $OUT/summary.txt
  # at the limit SIGINT first, so that pytest still reports the failures it has seen; SIGKILL 15 s later
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  if [ "$limit" = 0 ]; then echo "$name: skipped (limit 0)" | tee -a "$OUT/summary.txt"; return; fi
  timeout -s INT -k 15 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc in $((SECONDS - start)) s (limit $limit s)" | tee -a "$OUT/summary.txt"
  tail -n 3 "$OUT/$name.log"
}

# every case in its own worker (13 on a 16-core machine), two threads each so that the workers do not fight over cores
step tests "${TESTS_LIMIT:-300}" env OMP_NUM_THREADS=2 $PY -m pytest -v -p no:cacheprovider -n "${TESTS_WORKERS:-13}" \
  --dist load -rfE --tb=short ${TESTS_K:+-k "$TESTS_K"} tests/bundles/test_cuda.py
step engine_fp32 "${ENGINE_LIMIT:-100}" $PY benchmarks/bench_bundle_engine.py --epochs 2 \
  --trace "$OUT/trace_engine_fp32.json.gz" --trace_iterations 6 --trace_python
step engine_amp "${ENGINE_LIMIT:-100}" $PY benchmarks/bench_bundle_engine.py --epochs 2 \
  --set amp=true amp_dtype=bf16 channels_last=true --trace "$OUT/trace_engine_bf16.json.gz" --trace_iterations 6
step mmgan_inference "${MMGAN_INFERENCE_LIMIT:-90}" $PY benchmarks/bench_inference_real.py \
  --bundle mmgan_missing_modality
step inference_real "${INFERENCE_LIMIT:-120}" bash -c 'for b in ct_phase_pix2pix glioma_grade_resnet50_3d \
  glacier_segmentation; do echo "## $b"; "$0" benchmarks/bench_inference_real.py --bundle "$b" || exit; done' "$PY"
step optimizers "${OPTIMIZER_LIMIT:-90}" $PY benchmarks/bench_optimizer.py
# one epoch: the demo's 264 iterations of 512^2 took longer than 75 s for two (engine and plain loop each)
step engine_gan "${GAN_ENGINE_LIMIT:-120}" $PY benchmarks/bench_bundle_engine.py --bundle ct_phase_pix2pix --epochs 1
step slice_scale_pix2pix "${SCALE_LIMIT:-120}" $PY benchmarks/bench_slice_scale.py --bundle ct_phase_pix2pix --pairs 8
step slice_scale_mmgan "${SCALE_LIMIT:-120}" $PY benchmarks/bench_slice_scale.py --bundle mmgan_missing_modality \
  --slices 5000 --variants cache_rate=auto cache_rate=0
step benchmarks "${BENCH_LIMIT:-230}" $PY -m benchmarks --size real --output "$OUT/RESULTS_gpu.md" ${ONLY:+--only $ONLY} \
  --skip bench_prepare_ixi.py bench_slice_dataset.py bench_slice_scale.py mmgan_missing_modality:bench_inference_real.py \
  ct_phase_pix2pix:bench_inference_real.py glioma_grade_resnet50_3d:bench_inference_real.py \
  glacier_segmentation:bench_inference_real.py
step compile_unet "${COMPILE_UNET_LIMIT:-${COMPILE_LIMIT:-60}}" $PY benchmarks/bench_mri_to_ct_engine.py --size 64 --iterations 10 --repeats 2 \
  --precisions fp32 bf16 --compile
step compile_glacier "${COMPILE_GLACIER_LIMIT:-${COMPILE_LIMIT:-60}}" $PY benchmarks/bench_glacier.py --size 64 --batch 32 --iterations 5 --repeats 2 \
  --precisions fp32 bf16 --compile
cat "$OUT/summary.txt"
