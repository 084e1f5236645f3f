#!/usr/bin/env bash
# One visit to a lent GPU machine, in one call of at most 9 minutes:
# install the carried wheels, benchmark the paper's step, train the release
# recipe for a few minutes, score it on the held-out scenes, export it.
#
#   bash scripts/device_session.sh            # on the machine, .whl/ carried
#   bash scripts/device_session.sh --dry_run  # here: CPU, tiny, no TensorFlow
#
# What comes back lies in $OUT (a new temporary folder when unset), at most
# 8 files: summary.md (versions, settings, each step's seconds), session.log,
# benchmark.md, train.log, heldout.md, heldout_per_scene.csv,
# generator.msgpack and generator.json. It stops at the first failing step;
# what the steps before wrote stays there. Make .whl/ first with
# `.venv/bin/python scripts/device_wheels.py`.
#
# --dry_run runs every step at test sizes with this checkout's .venv and
# TensorFlow made unimportable, as it is on the machines, so that a failure
# shows here rather than on the lent minutes.
set -euo pipefail

# Training on the GPU (configs/release.py with these). The crop must fit
# the frames of the training data (synthetic_motion/large: 160 x 160).
BATCH_SIZE="${BATCH_SIZE:-64}"
CROP_SIZE="${CROP_SIZE:-128}"
# Empty: the config's own builder config; e.g. `default` (1,200 examples)
# builds in seconds where `large` (20,000) takes minutes of the visit.
TRAIN_BUILDER="${TRAIN_BUILDER:-}"
# The visit's clock decides the minutes left for training, up to these.
TRAIN_MINUTES="${TRAIN_MINUTES:-5}"
# The whole visit, and what each step may take at most.
TOTAL_SECONDS="${TOTAL_SECONDS:-540}"
SETUP_SECONDS=60
DATA_SECONDS=120
BENCHMARK_SECONDS=180
TRAIN_DATA_SECONDS=240
# Start-up, compiling, the last evaluation and checkpoint: training's own
# minutes come on top.
TRAIN_OVERHEAD_SECONDS=75
HELDOUT_SECONDS=75
EXPORT_SECONDS=45

DRY_RUN=0
for arg in "$@"; do
  case "$arg" in
    --dry_run) DRY_RUN=1 ;;
    *) echo "usage: bash scripts/device_session.sh [--dry_run]" >&2; exit 2 ;;
  esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
START=$SECONDS
OUT="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/cbl_jax_device_out.XXXXXX")}"
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/cbl_jax_device_work.XXXXXX")}"
DATA="${DATA:-$WORK/tfds}"
mkdir -p "$OUT" "$WORK"
SUMMARY="$OUT/summary.md"
LOG="$OUT/session.log"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
echo "Results go to OUT=$OUT (work files in $WORK)"

if [ "$DRY_RUN" = 1 ]; then
  PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
  export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
  # The machines have no TensorFlow: a sitecustomize first on the path
  # hides it here too, so that the dry run proves the path without it.
  mkdir -p "$WORK/no_tensorflow"
  cat > "$WORK/no_tensorflow/sitecustomize.py" <<'EOF'
"""Hides TensorFlow, as on the lent GPU machines: not found, not installed.

The path finder is replaced by one blind to it, so that `import tensorflow`
fails and `importlib.util.find_spec("tensorflow")` and importlib.metadata
answer as they do where it is absent (libraries ask both).
"""
import importlib.machinery
import sys

_MODULES = ("tensorflow", "tf_keras")
_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow_cpu",
                  "tensorflow-intel", "tf-keras", "tf_keras")


class _PathFinderWithoutTensorFlow(importlib.machinery.PathFinder):

  @classmethod
  def find_spec(cls, fullname, path=None, target=None):
    if fullname.partition(".")[0] in _MODULES:
      return None
    return super().find_spec(fullname, path, target)

  @classmethod
  def find_distributions(cls, *args, **kwargs):
    return (d for d in super().find_distributions(*args, **kwargs)
            if d.name is None or d.name.lower() not in _DISTRIBUTIONS)


sys.meta_path[:] = [
    _PathFinderWithoutTensorFlow
    if finder is importlib.machinery.PathFinder else finder
    for finder in sys.meta_path]
EOF
  export PYTHONPATH="$WORK/no_tensorflow:$REPO"
else
  PYTHON="${PYTHON:-python3}"
  # Carried packaged files (photographs, videos) are namespace packages.
  export PYTHONPATH="$REPO:/tmp/site:$REPO/.whl/files"
fi

# summary.md is rewritten after every step, so that a visit cut short
# still brings back what it did.
TITLE="# Lent GPU session $(date -u +%Y-%m-%dT%H:%M:%SZ)"
[ "$DRY_RUN" = 1 ] && TITLE="$TITLE (dry run)"
STEPS="$WORK/steps.md" NOTES="$WORK/notes.md"
printf '| step | seconds | exit |\n|---|---|---|\n' > "$STEPS"
: > "$NOTES"
write_summary() {
  {
    echo "$TITLE"
    echo
    if [ -s "$WORK/versions.txt" ]; then
      echo '```'; cat "$WORK/versions.txt"; echo '```'; echo
    fi
    cat "$STEPS"
    echo
    cat "$NOTES"
    echo
    if [ -n "${1:-}" ]; then
      echo "Total $((SECONDS - START)) s, $1."
    else
      echo "$((SECONDS - START)) s so far."
    fi
  } > "$SUMMARY"
}
note() { echo "$*" | tee -a "$NOTES"; }

finish() {
  local rc=$?
  write_summary "exit $rc"
  local count big
  count=$(find "$OUT" -type f | wc -l)
  big=$(find "$OUT" -type f -size +16M)
  if [ "$count" -gt 8 ] || [ -n "$big" ]; then
    echo "WARNING: $count files in $OUT; over 16 MiB: ${big:-none}" \
      "(at most 8 files of 16 MiB come back)" | tee -a "$SUMMARY" >&2
  fi
  echo "== total $((SECONDS - START)) s, exit $rc; OUT=$OUT"
}
trap finish EXIT

# run_step NAME TIMEOUT LOGFILE COMMAND...: runs it under `timeout`, its
# stdout and stderr into LOGFILE, and notes the seconds in the summary.
run_step() {
  local name="$1" limit="$2" logfile="$3" rc=0 begin=$SECONDS
  shift 3
  echo "== $name (at most ${limit} s)"
  echo "== $name: $*" >> "$LOG"
  timeout --kill-after=10 "$limit" "$@" >> "$logfile" 2>&1 || rc=$?
  echo "| $name | $((SECONDS - begin)) | $rc |" >> "$STEPS"
  write_summary
  echo "== $name: $((SECONDS - begin)) s, exit $rc"
  if [ "$rc" != 0 ]; then
    if [ "$rc" = 124 ]; then note "$name ran past its ${limit} s."; fi
    tail -n 40 "$logfile" >&2
    exit "$rc"
  fi
}

# --- 0. Set-up: the carried wheels; the machine's own JAX. ---
setup() {
  set -euo pipefail
  if [ "$DRY_RUN" = 0 ]; then
    if ! ls .whl/*.whl > /dev/null; then
      echo "no .whl/*.whl: run scripts/device_wheels.py and carry .whl"
      return 1
    fi
    # --no-deps: nothing but the carried wheels, never another JAX.
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile \
      --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    nvidia-smi -L || true
    ldd --version | head -n 1 || true
  fi
  "$PYTHON" - > "$WORK/versions.txt" <<'EOF'
import importlib.metadata as metadata
import sys

import jax

print("python", sys.version.split()[0], sys.executable)
print("jax", jax.__version__, jax.__file__)
print("devices", jax.devices())
names = ("jaxlib jax-cuda13-plugin flax optax orbax-checkpoint tensorstore "
         "numpy protobuf etils chex absl-py tensorboard scikit-image "
         "scikit-learn matplotlib pillow tensorflow-datasets grain "
         "array-record ml-collections dm-pix googleapis-common-protos "
         "tensorflow-metadata av").split()
for name in names:
  try:
    print(name, metadata.version(name))
  except metadata.PackageNotFoundError:
    print(name, "-")
try:
  import tensorflow  # pylint: disable=unused-import
  print("tensorflow importable (the machines have none)")
except ImportError:
  print("tensorflow: not importable")
EOF
  cat "$WORK/versions.txt"
  if [ "$DRY_RUN" = 0 ]; then
    # Conflicts of the carried wheels with the image's versions show here.
    "$PYTHON" -m pip check 2>&1 | head -n 40 || true
  fi
}
export -f setup
export DRY_RUN PYTHON WORK
run_step setup "$SETUP_SECONDS" "$LOG" bash -c setup
cat "$WORK/versions.txt"

# --- 1. The embedded dataset the benchmark reads. ---
if [ "$DRY_RUN" = 1 ]; then bench_builder=tiny; else bench_builder=default; fi
run_step data "$DATA_SECONDS" "$LOG" "$PYTHON" -m cbl_jax.data.build \
  --name=synthetic_motion --builder_config="$bench_builder" --data_dir="$DATA"

# --- 2. Benchmark: the paper's shapes, both stages, float32 and bfloat16. ---
if [ "$DRY_RUN" = 1 ]; then
  bench_args=(--tiny --dtypes=float32 --repeats=1 --input_seconds=0.5)
else
  bench_args=(--input_seconds=5)
fi
# Its table goes to benchmark.md, its log to session.log.
export BENCHMARK_MD="$OUT/benchmark.md"
run_step benchmark "$BENCHMARK_SECONDS" "$LOG" bash -c \
  '"$@" > "$BENCHMARK_MD"' benchmark "$PYTHON" -m benchmarks.accelerator \
  --data_dir="$DATA" "${bench_args[@]}"
cat "$OUT/benchmark.md"

# --- 3. Training, for the minutes the visit has left. ---
# config_value FILE FIELD: a field of a config file ("" when it has none).
config_value() {
  "$PYTHON" - "$1" "$2" <<'EOF'
import importlib
import sys

value = importlib.import_module(
    sys.argv[1].removesuffix(".py").replace("/", ".")).get_config()
for key in sys.argv[2].split("."):
  value = value.get(key) if key in value else None
  if value is None:
    break
print("" if value is None else value)
EOF
}
config=configs/release.py
if [ "$DRY_RUN" = 1 ]; then
  # The release recipe itself at test sizes: the U-Net, its loss and its
  # minutes budget, which ends the run (its step count is open-ended).
  TRAIN_BUILDER="${TRAIN_BUILDER:-tiny}"
  TRAIN_MINUTES=0.1
  train_args=("--config.batch_size=2" "--config.data.crop_size=16"
              "--config.generator.features=(4, 8, 8, 8)"
              "--config.eval_every_steps=1000000"
              "--config.checkpoint_every_steps=1000000")
else
  train_args=("--config.batch_size=$BATCH_SIZE"
              "--config.data.crop_size=$CROP_SIZE")
fi
builder="${TRAIN_BUILDER:-$(config_value "$config" data.builder_config)}"
# absl wants --config before its --config.FIELD overrides.
train_args=("--config=$config" "${train_args[@]}" "--workdir=$WORK/release"
             "--config.data.data_dir=$DATA"
             "--config.data.builder_config=$builder")
# Its own step, so that the minutes left are known before training starts
# (nothing to do when the benchmark's data is the training data).
if [ "$builder" = "$bench_builder" ]; then
  echo "| train_data | 0 | 0 |" >> "$STEPS"
else
  run_step train_data "$TRAIN_DATA_SECONDS" "$LOG" "$PYTHON" \
    -m cbl_jax.data.build --name="$(config_value "$config" data.name)" \
    --builder_config="$builder" --data_dir="$DATA"
fi

after_train=$((HELDOUT_SECONDS + EXPORT_SECONDS + 15))
train_limit=$((TOTAL_SECONDS - (SECONDS - START) - after_train))
minutes=$(awk -v want="$TRAIN_MINUTES" -v limit="$train_limit" \
  -v overhead="$TRAIN_OVERHEAD_SECONDS" 'BEGIN {
    m = (limit - overhead) / 60; if (m > want) m = want;
    printf "%.2f", m }')
if [ "$DRY_RUN" = 0 ] && awk -v m="$minutes" 'BEGIN { exit !(m < 0.5) }'; then
  note "Only ${train_limit} s are left for training: too few."
  exit 1
fi
# Without its minutes the release run would go on until `timeout` kills
# it, with no last checkpoint to evaluate; the tiny one ends by itself.
if [ -n "$(config_value "$config" train_minutes)" ]; then
  train_args+=("--config.train_minutes=$minutes")
elif [ "$DRY_RUN" = 1 ]; then
  note "WARNING: $config has no train_minutes; training without it."
else
  note "$config has no train_minutes: the run would not end in time."
  exit 1
fi
note "Training: ${train_args[*]} (the step may take ${train_limit} s)."
run_step train "$train_limit" "$OUT/train.log" \
  "$PYTHON" -m cbl_jax.main "${train_args[@]}"
grep -E "Progress:|Eval at step|budget" "$OUT/train.log" | tail -n 4 \
  | sed 's/^/    /' | tee -a "$NOTES" || true

# --- 4. Held-out scenes. ---
if [ "$DRY_RUN" = 1 ]; then
  heldout_args=(--num_scenes=1 --image_size=24)
else
  heldout_args=()
fi
run_step heldout "$HELDOUT_SECONDS" "$LOG" "$PYTHON" \
  -m cbl_jax.evaluation.heldout "--workdir=$WORK/release" \
  "--output=$WORK/heldout" ${heldout_args[@]+"${heldout_args[@]}"}
cp "$WORK/heldout/report.md" "$OUT/heldout.md"
cp "$WORK/heldout/per_scene.csv" "$OUT/heldout_per_scene.csv"
{
  printf '\nHeld-out scenes:\n\n'
  printf '| | all 7 frames | middle frame |\n|---|---|---|\n'
  grep -E "^\| (blurry input|model|gain) " "$OUT/heldout.md"
} | tee -a "$NOTES"

# --- 5. The generator's weights (and their .json sidecar). ---
run_step export "$EXPORT_SECONDS" "$LOG" "$PYTHON" \
  -m cbl_jax.inference.export_weights "--workdir=$WORK/release" \
  "--output=$OUT/generator.msgpack"
