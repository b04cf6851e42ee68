#!/usr/bin/env bash
# The GPU work the course owes, as one command for a lent GPU machine (see
# ../shared/device/README.md: 15 minutes of device time a session, one command at most 10).
#
#   scripts/gpu_session.sh [JOB ...]     JOB: reference (default), bench, resolution; all means
#                                        reference and bench (one call brings back 8 files)
#
#   reference   chapter 02 with profile "gpu" (224 px, 8,000 + 2,000 synthetic photographs, up to
#               20 epochs, JAX, mixed bfloat16): the course's reference run. Brings back the
#               executed notebook, the manifest (it names the card) and the weights split into
#               15 MiB parts (join: cat densenet121_gpu.weights.h5.part-* > ...; the manifest's
#               sha256 checks the join).
#   bench       benchmarks/bench_train_throughput.py --full and bench_explain.py --full (JSON).
#   resolution  chapter 02 at 384 px (profile "gpu", image_size 384, model densenet121_gpu384):
#               the larger-input model chapter 06's resolution question needs. Same outputs;
#               run it in its own call (two models' files are more than one call brings back).
#
# Run it on the device from the repository root with the wheels carried (.whl, made here by
# `bash ../shared/device/fetch-wheels.sh`), e.g. run(command="bash scripts/gpu_session.sh all",
# carry=[".whl"], timeout_s=590). Each job has its own time limit (GPU_JOB_LIMIT_S, default
# 270 s) so one overrun still lets the others, and the summary, come back. Everything it keeps
# is written under $OUT (at most 8 files come back: the jobs below stay under that).
# Locally, DRY_RUN=1 prints the commands without running anything.
set -uo pipefail

OUT=${OUT:-/tmp/gpu_out}
LIMIT=${GPU_JOB_LIMIT_S:-270}
mkdir -p "$OUT"
jobs=("$@")
[ ${#jobs[@]} -eq 0 ] && jobs=(reference)
[ "${jobs[0]}" = all ] && jobs=(reference bench)

run() {  # run CMD... with the job limit, echoing it; DRY_RUN only echoes
  echo "+ $*"
  [ -n "${DRY_RUN:-}" ] && return 0
  timeout "$LIMIT" "$@"
}

if [ -z "${DRY_RUN:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "wheels missing: carry .whl"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
fi
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 PYTHONHASHSEED=0

train_chapter() {  # NAME [papermill -p pairs...]: chapter 02, its notebook, manifest, weights
  local name=$1; shift
  run python3 -m papermill notebooks/02_training.ipynb "$OUT/02_$name.ipynb" -k python3 \
    --cwd notebooks -p profile gpu -p model_name "$name" "$@"
  local rc=$?
  echo "$name: rc $rc"
  [ -n "${DRY_RUN:-}" ] && return 0
  if [ -f "models/$name.weights.h5" ]; then
    cp "models/$name.manifest.json" "$OUT/"
    split -b 15M "models/$name.weights.h5" "$OUT/$name.weights.h5.part-"
    sha256sum "models/$name.weights.h5"
  fi
  return $rc
}

status=0
for job in "${jobs[@]}"; do
  start=$(date +%s)
  case $job in
    reference) train_chapter densenet121_gpu || status=1 ;;
    resolution) train_chapter densenet121_gpu384 -p image_size 384 || status=1 ;;
    bench)
      run python3 benchmarks/bench_train_throughput.py --full --out "$OUT/bench_train_throughput.json" || status=1
      run python3 benchmarks/bench_explain.py --full --out "$OUT/bench_explain.json" || status=1 ;;
    *) echo "unknown job $job (reference, bench, resolution, all)"; exit 2 ;;
  esac
  echo "job $job: $(( $(date +%s) - start )) s"
done
ls -la "$OUT"
exit $status
