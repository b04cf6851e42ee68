#!/usr/bin/env bash
# The GPU work the course owes, as one command for a lent GPU machine (see
# ../shared/device/README.md: 15 minutes of device time a session, one command at most 10).
#
#   scripts/gpu_session.sh [JOB ...]     JOB: data, reference, resolution, failure, bench, explain;
#                                        all means data, resolution (the default)
#
#   data        renders chapter 02's `gpu` splits once (8,000 + 2,000 synthetic photographs at
#               512 px on every core; scripts/render_chapter_splits.py, from the chapter's own
#               parameters), so that the trainings below share them. Without it each training
#               renders them itself, one waiting on the other's lock.
#   reference   chapter 02 with profile "gpu" (224 px, up to 20 epochs, JAX, mixed bfloat16):
#               the course's reference run, model densenet121_gpu. Made on 2026-11-28 and kept
#               in models/gpu/ (its README); run it again only to replace it.
#   resolution  chapter 06's resolution graders at the reference's scale: two trainings at the
#               same time on the one card, both continuing the reference (RES_INIT, default
#               models/gpu/densenet121_gpu) for RES_EPOCHS epochs (default 4) at learning rate
#               1e-4 on the same data, one at the reference's 224 px (the control: it carries
#               the same extra epochs) and one at 384 px; models densenet121_gpu_ft224 and
#               densenet121_gpu_ft384. The same design as models/resolution/ (the CPU graders
#               that continue densenet121_cpu), so chapter 06's check that its graders continue
#               its model holds when it runs with the reference model. The reference's weights
#               must travel (see below). Their throughputs are shared-card figures.
#   failure     chapter 06 on many more eyes than CI's (GPU_FAIL_PARAMS, default below), with
#               the course's CPU grader densenet121_cpu (whose weights must travel instead of
#               the reference's) and without section 6.9's graders (resolution_models empty:
#               their weights would not fit beside it). It writes the chapter's record,
#               06_failure_analysis_gpu.json; commit it as records/06_failure_analysis_gpu.json
#               and rerun chapter 06, whose section 6.10 sets its verdicts beside CI's.
#   bench       benchmarks/bench_train_throughput.py --full (JSON), run alone on the machine.
#   explain     benchmarks/bench_explain.py --full (JSON).
#
# What comes back under $OUT (8 files at most, 16 MiB each, 64 MiB in all): runs.tar.gz (executed
# notebooks, manifests, logs, and the history and best checkpoint of a run killed before it
# saved; the checkpoint holds no optimizer state, so it fits in two parts), each
# model's weights split into 15 MiB parts (join: cat NAME.weights.h5.part-* > NAME.weights.h5;
# the manifest's sha256 checks the join), and the benchmarks' JSON.
#
# Time: everything runs against one deadline (GPU_DEADLINE_S, default 565 s after the start), so
# the call ends inside the device's 600 s limit with its files; a job that would not fit in what
# is left is skipped and named in the summary. A training gets chapter 02's time_limit_s (its
# time limit less AFTER_TRAINING_S, default 120 s), so it stops after the epoch that leaves too
# little time for another and still saves its best weights and manifest.
# What the time went on in the call of 2026-11-27 (H200, reference alone, 224 px; its logs):
# about 30 s before the chapter's first cell (wheels, papermill, kernel), 123 s in the data cell
# (rendering 10,000 photographs at 512 px, then loading them), 11 s building the model, 135 s
# for the first epoch (XLA compilation), then about 5 s per epoch and 1.2 s per validation.
# bench and explain ran that day; their JSON is kept in benchmarks/records/ (book appendix).
# The call of 2026-11-28 (H200, `data reference explain`, 463 s of the command's 600): 32 s
# rendering the splits, 334 s for the reference (57 s in the data cell, 10 s building the model,
# 249 s in the training cell: 132 s for the first epoch, then about 5.4 s per epoch; it stopped
# early after 11 epochs), 90 s for explain. Its model is kept in models/gpu/ (README there).
# Run it on the device from the repository root with the wheels carried (.whl): keras,
# papermill and ipykernel from `bash ../shared/device/fetch-wheels.sh`, plus myst-nb and docutils
# without their dependencies (chapter 02 glues its numbers with myst_nb.glue, which needs only
# IPython, nbformat and docutils; the rest of myst-nb's, Sphinx among them, would add 20 MB):
#     python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
#         --implementation cp --platform manylinux_2_28_x86_64 -d .whl myst-nb docutils
# (about 18 MB in all), e.g.
#     run(command="bash scripts/gpu_session.sh", carry=[".whl"], timeout_s=600)
# The working tree must stay under the device's 64 MiB with the wheels, so run it from a
# throwaway commit without the weights it does not need (models/ holds about 146 MB of them);
# the resolution job needs the reference's (29 MB):
#     git checkout -b gpu-run && git rm -q models/*.weights.h5 models/stages/*.weights.h5 \
#         models/resolution/*.weights.h5 && git commit -qm gpu-run
#     # (for reference, bench or explain alone, remove models/gpu/*.weights.h5 as well; for
#     # failure, remove models/gpu/*.weights.h5 and keep models/densenet121_cpu.weights.h5)
#     # run, then: git checkout main && git branch -D gpu-run
# Locally, DRY_RUN=1 prints the commands without running anything; a small real run here:
#     LOCAL=1 PYTHON=.venv/bin/python GPU_EXTRA="-p n_train 32 -p n_val 16 -p epochs 1 \
#         -p image_size 64" DRLIB_MODELS=/tmp/m DRLIB_RUNS=/tmp/r bash scripts/gpu_session.sh \
#         reference
# (LOCAL skips the wheels and nvidia-smi; GPU_EXTRA is appended to every training's parameters.)
set -uo pipefail

OUT=${OUT:-/tmp/gpu_out}
DEADLINE=${GPU_DEADLINE_S:-565}
RES_EPOCHS=${RES_EPOCHS:-4}
RES_INIT=${RES_INIT:-gpu/densenet121_gpu.manifest.json}  # relative to models/ (chapter 02's init)
AFTER_TRAINING_S=${AFTER_TRAINING_S:-120}
# a dry run stages in a fresh folder, so it never overwrites the logs of a real run
STAGE=${GPU_STAGE:-$([ -n "${DRY_RUN:-}" ] && mktemp -d /tmp/gpu_stage_dry.XXXXXX || echo /tmp/gpu_stage)}
PY=${PYTHON:-python3}
MODELS=${DRLIB_MODELS:-models}
RUNS=${DRLIB_RUNS:-runs}
read -r -a EXTRA <<< "${GPU_EXTRA:-}"
# chapter 06's sizes for the failure job (CI runs the chapter's own, much smaller)
read -r -a FAIL_PARAMS <<< "${GPU_FAIL_PARAMS:--p n_per_grade 30 -p n_counterfactual 30 \
-p n_scar 20 -p faithfulness_per_grade 6 -p road_eyes 4}"
# the resolution graders' papermill parameters, the same for both but for the input size
RES_PARAMS=(-p init "$RES_INIT" -p resize_init True -p learning_rate 0.0001 -p epochs "$RES_EPOCHS")
START=$(date +%s)
mkdir -p "$OUT" "$STAGE"
jobs=("$@")
[ ${#jobs[@]} -eq 0 ] && jobs=(all)
[ "${jobs[0]}" = all ] && jobs=(data resolution)

left() { echo $(( START + DEADLINE - $(date +%s) )); }

limited() {  # SECONDS CMD...: run CMD with a time limit, echoing it; DRY_RUN only echoes
  local limit=$1; shift
  echo "+ [limit ${limit}s] $*"
  [ -n "${DRY_RUN:-}" ] && return 0
  timeout "$limit" "$@"
}

if [ -z "${DRY_RUN:-}" ] && [ -z "${LOCAL:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "wheels missing: carry .whl"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
fi
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 PYTHONHASHSEED=0

build_data() {  # chapter 02's gpu splits, from the chapter's own parameters cell
  limited "$1" "$PY" scripts/render_chapter_splits.py gpu
}

train_chapter() {  # SECONDS NAME [papermill -p pairs...]: chapter 02 with profile gpu
  local limit=$1 name=$2; shift 2
  # Training stops after the epoch that leaves too little of the limit for another, keeping
  # AFTER_TRAINING_S for the kernel's start and what follows training (evaluation, save).
  limited "$limit" "$PY" -m papermill notebooks/02_training.ipynb "$STAGE/02_$name.ipynb" \
    -k python3 --cwd notebooks --log-output -p profile gpu -p model_name "$name" \
    -p time_limit_s $(( limit - AFTER_TRAINING_S )) "$@" ${EXTRA[@]+"${EXTRA[@]}"} \
    > "$STAGE/$name.log" 2>&1
  local rc=$?
  [ -n "${DRY_RUN:-}" ] && cat "$STAGE/$name.log"  # the command, which went to its log
  echo "$name: rc $rc ($(grep -c '^Epoch ' "$STAGE/$name.log" 2>/dev/null) epoch lines in its log)"
  return $rc
}

collect() {  # NAME: manifest and weights parts; a stopped run's history and best checkpoint
  local name=$1 run="$RUNS/$1"
  [ -n "${DRY_RUN:-}" ] && return 0
  if [ -f "$MODELS/$name.manifest.json" ] && [ -f "$MODELS/$name.weights.h5" ]; then
    cp "$MODELS/$name.manifest.json" "$STAGE/"
    split -b 15M "$MODELS/$name.weights.h5" "$OUT/$name.weights.h5.part-"
    sha256sum "$MODELS/$name.weights.h5"
  elif [ -f "$run/checkpoints/best.weights.h5" ]; then
    echo "$name: no manifest (stopped before it saved); bringing its best checkpoint"
    cp "$run/history.csv" "$STAGE/$name.history.csv" 2>/dev/null
    split -b 15M "$run/checkpoints/best.weights.h5" "$OUT/$name.best.weights.h5.part-"
  fi
}

status=0
for job in "${jobs[@]}"; do
  t0=$(date +%s)
  budget=$(( $(left) - 20 ))  # 20 s for packing what came out
  case $job in
    data) build_data "$budget" || status=1 ;;
    reference) train_chapter "$budget" densenet121_gpu || status=1; collect densenet121_gpu ;;
    resolution)
      train_chapter "$budget" densenet121_gpu_ft224 "${RES_PARAMS[@]}" -p image_size 224 & small=$!
      train_chapter "$budget" densenet121_gpu_ft384 "${RES_PARAMS[@]}" -p image_size 384 & large=$!
      wait $small || status=1
      wait $large || status=1
      echo "resolution: both graders trained at once on one card (shared-card throughputs)"
      collect densenet121_gpu_ft224; collect densenet121_gpu_ft384 ;;
    failure)
      if [ "$budget" -lt 240 ]; then echo "failure: skipped, ${budget}s left (needs about 240)"
      else limited "$budget" "$PY" -m papermill notebooks/06_failure_analysis.ipynb \
             "$STAGE/06_failure_analysis_gpu.ipynb" -k python3 --cwd notebooks --log-output \
             -y "resolution_models: []" -p record_path "$OUT/06_failure_analysis_gpu.json" \
             "${FAIL_PARAMS[@]}" > "$STAGE/failure.log" 2>&1 || status=1
        [ -n "${DRY_RUN:-}" ] && cat "$STAGE/failure.log"
      fi ;;
    bench)
      if [ "$budget" -lt 170 ]; then echo "bench: skipped, ${budget}s left (needs about 170)"
      else limited "$budget" "$PY" benchmarks/bench_train_throughput.py --full \
             --out "$OUT/bench_train_throughput.json" || status=1; fi ;;
    explain)
      if [ "$budget" -lt 120 ]; then echo "explain: skipped, ${budget}s left (needs about 120)"
      else limited "$budget" "$PY" benchmarks/bench_explain.py --full \
             --out "$OUT/bench_explain.json" || status=1; fi ;;
    *) echo "unknown job $job (data reference resolution failure bench explain all)"; exit 2 ;;
  esac
  echo "job $job: $(( $(date +%s) - t0 )) s; $(left) s left"
done

if [ -z "${DRY_RUN:-}" ]; then
  tar -czf "$OUT/runs.tar.gz" -C "$STAGE" . 2>/dev/null
  for log in "$STAGE"/*.log; do [ -f "$log" ] && { echo "== tail of $log"; tail -n 8 "$log"; }; done
  for m in "$STAGE"/*.manifest.json; do
    [ -f "$m" ] && "$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); \
print(m['name'], 'device', m.get('device', {}).get('description'), 'val kappa', \
m.get('validation', {}).get('kappa'), 'sha256', m.get('weights_sha256'))" "$m"
  done
  ls -la "$OUT"
fi
exit $status
