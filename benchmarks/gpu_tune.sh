#!/usr/bin/env bash
# Issue 8's measurement on a lent GPU: does the Smart Tuner find a config that aligns in fewer steps
# than the default one on the demo corpus?
#   PHASE=tune     search the shipped space-cuda.yaml from tune-cuda.yaml for MINUTES (2 workers
#                  sharing one SQLite study on the GPU); best.yaml, the study report and db go to $OUT
#   PHASE=compare  train the base config and BEST (default: the best.yaml of the tune phase) for STEPS
#                  steps each, same seed and data, evaluating every 100; compare.md/json go to $OUT
# Both phases build the demo corpus into .gpu_work/ (git-ignored) unless a warm machine still has it.
set -euo pipefail
PHASE=${PHASE:-tune}
MINUTES=${MINUTES:-5}
STEPS=${STEPS:-600}
OUT=${OUT:-/tmp/gpu_tune_out}
W=$PWD/.gpu_work
mkdir -p "$OUT" "$W"
source benchmarks/gpu_env.sh
build_demo_dataset "$W" tune-cuda.yaml
if [ "$PHASE" = tune ]; then
  python3 -m tacotron tune --config tune-cuda.yaml --data "$W/dataset" --space space-cuda.yaml \
    --trials 12 --study "${STUDY:-gpu}" --out "$W/tune" --budget-minutes "$MINUTES" --workers 2 --device cuda 2>&1 \
    | grep -v "it/s" | tail -40
  cp "$W/tune/best.yaml" "$W/tune/study.db" "$OUT/" || true  # best.yaml is absent when no trial completed (the log says so)
  cp "$W"/tune/*.md "$W"/tune/*.html "$OUT/" || true
else
  BEST=${BEST:-$W/tune/best.yaml}
  python3 -m tacotron tune --config tune-cuda.yaml --data "$W/dataset" --compare "$BEST" \
    --compare-steps "$STEPS" --compare-every 100 --out "$W/cmp" --device cuda 2>&1 | grep -v "it/s" | tail -30
  cp "$W/cmp/compare/compare.md" "$W/cmp/compare/compare.json" "$OUT/"
fi
