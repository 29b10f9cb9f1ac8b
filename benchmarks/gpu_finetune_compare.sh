#!/usr/bin/env bash
# Issue 23 item 1's measurement on one GPU: a small corpus of another language and voice (festvox-ru reading
# fortunes-ru, TARGET_N clips: 150 are about 15 minutes of audio) trained with src/tacotron/configs/ljspeech-ru.yaml
# from scratch and fine-tuned from the English natural voice (`tacotron train --init-from`: embedding rows
# matched by symbol, Cyrillic letters started from Latin ones of a near sound), for MINUTES each, at the same
# time on the GPU (both get the same share of it); then steps to validation alignment and the held-out MCD
# against the voice's own recordings of both (Russian has no offline recogniser: no WER).
#   source   the English checkpoint of an earlier gpu_natural.sh / gpu_vocoder_compare.sh run in $WORK/en (a
#            warm machine keeps it); where none is there, gpu_natural.sh renders SOURCE_N clips and trains
#            ljspeech.yaml for SOURCE_MINUTES (no curve evaluations)
#   target   gpu_natural.sh's render and prepare with LANG=ru, N=TARGET_N, HELDOUT=TARGET_HELDOUT ($WORK/ru)
#   compare  scratch and fine-tuned on every seed of SEEDS, validated every EVAL_EVERY steps, live
#            controller off (it would steer the two runs apart)
#   eval     `tacotron eval` of each run's last checkpoint on the held-out sentences with their recordings
#   table    compare.md (benchmarks/tune_compare.py table): steps/minutes to val diagonality >= 0.5 and to
#            the r-independent attn/alignment >= 0.5, val mel, held-out MCD and length ratio
# Everything lands in $OUT as it goes (a cut-off run keeps its numbers): progress.log, source.log,
# target.log, runs/<name>_s<seed>/ (train.log, metrics.jsonl, events.jsonl, summary.json, eval/eval.json),
# compare.md. A warm machine keeps $WORK, so a stage can be re-run on its own (STAGES="eval table").
#
#   SOURCE_N=3000 SOURCE_MINUTES=6 TARGET_N=150 TARGET_HELDOUT=50 MINUTES=5 EVAL_EVERY=100 SEEDS=1
#   STAGES="source target compare eval table" SETS_LIST="k=v ..." (--set for both runs of the target alike;
#   prepare sees them too, e.g. text.* settings)
# Carried files: `bash benchmarks/fetch_carry.sh ru` (.gl, .whl and festvox-ru in 4 parts). festvox-ru does
# not fit one call's carry: one short call per part before the start call, each carrying it and running
# `bash benchmarks/split_carry.sh --stash` (.carry/festvox-ru/part_01, _02, _03), then start with .gl, .whl,
# .carry/festvox-ru/part_00 and .carry/festvox-ru/sha256 carried. About 16 minutes of script without a source
# checkpoint (~9 with the one gpu_vocoder_compare.sh leaves in $WORK), past the 10-minute command limit:
#   bash benchmarks/gpu_detached.sh start /tmp/ft 560 -- bash benchmarks/gpu_finetune_compare.sh
#   bash benchmarks/gpu_detached.sh wait /tmp/ft 560
# DRY=1 runs every stage on a CPU with tiny corpora and models (checks the stages, not the numbers): see the
# end of this file.
set -uo pipefail
if [ -n "${DRY:-}" ]; then
  : "${SOURCE_N:=24}" "${SOURCE_MINUTES:=0.5}" "${TARGET_N:=20}" "${TARGET_HELDOUT:=3}" "${MINUTES:=0.5}"
  : "${EVAL_EVERY:=2}" "${DEVICE:=cpu}" "${OUT:=/tmp/gpu_finetune_compare_dry_out}"
  : "${WORK:=/tmp/gpu_finetune_compare_dry}"
  : "${SETS_LIST:=model.attention_rnn_dim=64 model.decoder_rnn_dim=64 model.max_decoder_steps=60
    train.batch_size=4 train.checkpoint_every=2 train.precision=fp32 train.cuda_graphs=false data.workers=1}"
fi
SOURCE_N=${SOURCE_N:-3000}
SOURCE_MINUTES=${SOURCE_MINUTES:-6}
TARGET_N=${TARGET_N:-150}
TARGET_HELDOUT=${TARGET_HELDOUT:-50}
MINUTES=${MINUTES:-5}
EVAL_EVERY=${EVAL_EVERY:-100}
SEEDS=${SEEDS:-1}
STAGES=${STAGES:-source target compare eval table}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/gpu_finetune_compare_out}
WORK=${WORK:-/tmp/gpu_natural}  # gpu_natural.sh's layout: $WORK/en (the source), $WORK/ru (the target)
CFG=src/tacotron/configs/ljspeech-ru.yaml
SETS=()
for item in ${SETS_LIST:-}; do SETS+=(--set "$item"); done
mkdir -p "$OUT" "$WORK"
CORES=${CORES:-$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")}
if [ -z "${DRY:-}" ]; then
  source benchmarks/gpu_env.sh  # once: gpu_natural.sh, run below, inherits the environment
else
  export PYTHONPATH=$PWD/src:$PWD PYTHONUNBUFFERED=1
fi
PY=${PY:-python3}
TARGET=$WORK/ru
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/progress.log"; }
has() { [[ " $STAGES " == *" $1 "* ]]; }
newest() { ls "$1"/step_*.pt 2>/dev/null | tail -1; }

if has source; then
  if [ -n "$(newest "$WORK/en/run/checkpoints")" ]; then
    log "source: reusing $(newest "$WORK/en/run/checkpoints")"
  else
    log "source: gpu_natural.sh renders $SOURCE_N English clips and trains ljspeech.yaml for $SOURCE_MINUTES minutes"
    # the English model is the source's own recipe: SETS_LIST is the target's, apart from a DRY run's tiny model
    LANG=C.UTF-8 STAGES="render prepare train" N=$SOURCE_N HELDOUT=${SOURCE_HELDOUT:-10} MINUTES=$SOURCE_MINUTES \
      EVAL_EVERY=100000 OUT=$OUT/source WORK=$WORK SETS_LIST="${DRY:+$SETS_LIST}" bash benchmarks/gpu_natural.sh \
      > "$OUT/source.log" 2>&1 || { log "source failed (see source.log)"; exit 1; }
  fi
fi
SOURCE=$(newest "$WORK/en/run/checkpoints")
[ -n "$SOURCE" ] || { log "no English checkpoint in $WORK/en/run/checkpoints"; exit 1; }

if has target; then
  log "target: $TARGET_N ru-festival clips + $TARGET_HELDOUT held-out"
  rm -rf "$TARGET"
  LANG=ru STAGES="render prepare" N=$TARGET_N HELDOUT=$TARGET_HELDOUT OUT=$OUT/target WORK=$WORK \
    SETS_LIST="${SETS_LIST:-}" bash benchmarks/gpu_natural.sh > "$OUT/target.log" 2>&1 \
    || { log "target failed (see target.log)"; exit 1; }
  grep -h "^wrote\|^kept" "$OUT/target.log" | tee -a "$OUT/progress.log"
fi

summarize() {  # NAME SEED [EVAL_JSON]
  local run=$WORK/ft/$1_s$2 dest=$OUT/runs/$1_s$2
  [ -e "$dest/start" ] || return 0
  $PY benchmarks/tune_compare.py run "$run" --name "$1" --seed "$2" --start "$(cat "$dest/start")" \
    --out "$dest/summary.json" ${3:+--eval "$3"} 2>&1 | tail -1 | tee -a "$OUT/progress.log"
}
train_run() {  # NAME SEED [--init-from CHECKPOINT]
  local name=$1 seed=$2 run=$WORK/ft/$1_s$2 dest=$OUT/runs/$1_s$2
  shift 2
  rm -rf "$run" "$dest"
  mkdir -p "$dest"
  date +%s.%N > "$dest/start"
  $PY -m tacotron train --config "$CFG" --data "$TARGET/dataset" --run "$run" --device "$DEVICE" "$@" \
    --set train.seed="$seed" --set train.max_minutes="$MINUTES" --set train.eval_every="$EVAL_EVERY" \
    --set tune.controller=false "${SETS[@]}" > "$dest/train.log" 2>&1
  log "train $name seed $seed exited with $?"
  cp "$run/metrics.jsonl" "$run/events.jsonl" "$run/config.yaml" "$dest/" 2>/dev/null
  grep -h '"init_from"' "$run/events.jsonl" > "$dest/init_from.jsonl" 2>/dev/null
  summarize "$name" "$seed"
}

if has compare; then
  for seed in $SEEDS; do
    log "compare seed $seed: scratch and fine-tuned from $(basename "$SOURCE") for $MINUTES min each, at the same time"
    train_run scratch "$seed" &
    train_run fine-tuned "$seed" --init-from "$SOURCE" &
    wait
  done
fi

if has eval; then
  runs=()
  for name in scratch fine-tuned; do for seed in $SEEDS; do
    [ -n "$(newest "$WORK/ft/${name}_s$seed/checkpoints")" ] && runs+=("$name $seed")
  done; done
  log "eval: ${#runs[@]} runs at once on $TARGET_HELDOUT held-out sentences with their recordings"
  for item in "${runs[@]}"; do
    read -r name seed <<< "$item"
    (
      dest=$OUT/runs/${name}_s$seed
      $PY -m tacotron eval --checkpoint "$(newest "$WORK/ft/${name}_s$seed/checkpoints")" \
        --file "$TARGET/corpus/heldout.txt" --reference-dir "$TARGET/corpus/heldout_wavs" --device "$DEVICE" \
        --out "$dest/eval" > "$dest/eval.log" 2>&1 || log "eval $name seed $seed failed (see runs/${name}_s$seed/eval.log)"
      summarize "$name" "$seed" "$dest/eval/eval.json"
    ) &
  done
  wait
fi

if has table; then
  if [ -n "${DRY:-}" ]; then device="CPU, DRY run (tiny corpora and models: the numbers mean nothing)"
  else device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); fi
  note="Target: $TARGET_N festvox-ru clips reading fortunes-ru ($(grep -ho '[0-9.]* h,' "$OUT/target.log" | head -1 \
| tr -d ,) of audio), $TARGET_HELDOUT held-out sentences with recordings, $CFG. Fine-tuned from $SOURCE (English, \
festival slt). $MINUTES min of training per run, both at the same time on the one device, validation every \
$EVAL_EVERY steps, seeds $SEEDS."
  $PY benchmarks/tune_compare.py table "$OUT"/runs/*/summary.json --device "$device" --note "$note" \
    > "$OUT/compare.md"
  tee -a "$OUT/progress.log" < "$OUT/compare.md"
fi
# Dry run on a CPU (festival with festvox-ru and the slt voice installed; a few minutes):
#   DRY=1 PY=$PWD/.venv/bin/python PATH=$PWD/.venv/bin:$PATH bash benchmarks/gpu_finetune_compare.sh
