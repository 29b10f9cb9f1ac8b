#!/usr/bin/env bash
# Speed on a lent GPU: the CUDA tests of the fast paths, then `tacotron bench` (benchmarks/speed.py) with
# SECTIONS, and, when BASELINE names a tarball of an older `src/` (git archive REV src | gzip), the same
# sections for that code in the same session, so before/after ratios come from one machine.
# COMPILE=1 adds rows with the compiled decoder step (`--compile-decoder-step`: training with
# train.compile_decoder_step, decoding with GraphedInference(compile_step=True)) to the same process, so
# their ratios against torchaudio are one run's (the kernels section measures both anyway).
#   SECTIONS=kernels,train BATCHES=64,128 PRECISIONS=fp32,bf16 BASELINE=.baseline_src.tgz COMPILE=1 OUT=...
set -uo pipefail
OUT=${OUT:-/tmp/gpu_speed_out}
SECTIONS=${SECTIONS:-kernels,train}
mkdir -p "$OUT"
source benchmarks/gpu_env.sh > "$OUT/env.log" 2>&1
nvidia-smi -L | tee -a "$OUT/env.log"
[ -n "${SKIP_TESTS:-}" ] || timeout "${TEST_SECONDS:-180}" python3 -m pytest -q -p no:cacheprovider -x \
  tests/model/test_fast_paths.py tests/model/test_tacotron2.py tests/train/test_cuda.py tests/train/test_graphs.py \
  tests/model/test_compiled_step.py tests/model/test_fast_infer.py tests/model/test_dropout.py \
  ${EXTRA_TESTS:-} > "$OUT/cuda_tests.log" 2>&1
[ -n "${SKIP_TESTS:-}" ] || tail -3 "$OUT/cuda_tests.log"
bench() {  # NAME SRC SECONDS [extra args]
  local name=$1 src=$2 seconds=$3; shift 3
  PYTHONPATH=/tmp/site:$src:$PWD timeout "$seconds" python3 benchmarks/speed.py --out "$OUT/$name" \
    --sections "$SECTIONS" --batch-sizes "${BATCHES:-64,128}" --precisions "${PRECISIONS:-fp32,bf16}" \
    --iters "${ITERS:-3}" "$@" > "$OUT/$name.log" 2>&1
  echo "$name exit $?"; cat "$OUT/$name/bench.md" 2>/dev/null
}
bench new "$PWD/src" "${NEW_SECONDS:-300}" ${COMPILE:+--compile-decoder-step}
if [ -n "${BASELINE:-}" ]; then
  mkdir -p /tmp/baseline && tar xzf "$BASELINE" -C /tmp/baseline
  BATCHES=${BASE_BATCHES:-64} PRECISIONS=${BASE_PRECISIONS:-bf16} bench baseline /tmp/baseline/src \
    "${BASE_SECONDS:-150}" --no-torchaudio
fi
