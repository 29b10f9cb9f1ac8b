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
#            controller off (it would steer the two runs apart); benchmarks/compare_runs.sh trains them
#   eval     `tacotron eval` of each run's last checkpoint on the held-out sentences with their recordings
#   table    compare.md (benchmarks/tune_compare.py table): steps/minutes to val diagonality >= 0.5 and to
#            the r-independent attn/alignment >= 0.5, val mel, held-out MCD and length ratio
# Everything lands in $OUT as it goes (a cut-off run keeps its numbers): progress.log, source.log,
# target.log, runs/<name>_s<seed>/ (train.log, metrics.jsonl, events.jsonl, summary.json, eval/eval.json),
# compare.md. A warm machine keeps $WORK, so a stage can be re-run on its own (STAGES="eval table").
#
#   SOURCE_N=3000 SOURCE_HELDOUT=10 SOURCE_MINUTES=6 TARGET_N=150 TARGET_HELDOUT=50 MINUTES=5 EVAL_EVERY=100
#   SEEDS=1
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
# validation syntheses off (nothing tabulated reads them; a scratch model decodes each to max_decoder_steps)
SETS=(--set train.n_val_synth=0)
for item in ${SETS_LIST:-}; do SETS+=(--set "$item"); done
TARGET=$WORK/ru
DATA=$TARGET/dataset
RUNS=$WORK/ft
source benchmarks/compare_runs.sh  # set-up, log, has, newest_step, train_run, eval_runs

if has source; then
  if [ -n "$(newest_step "$WORK/en/run/checkpoints")" ]; then
    log "source: reusing $(newest_step "$WORK/en/run/checkpoints")"
  else
    log "source: gpu_natural.sh renders $SOURCE_N English clips and trains ljspeech.yaml for $SOURCE_MINUTES minutes"
    # the English model is the source's own recipe: SETS_LIST is the target's, apart from a DRY run's tiny model
    LANG=C.UTF-8 STAGES="render prepare train" N=$SOURCE_N HELDOUT=${SOURCE_HELDOUT:-10} MINUTES=$SOURCE_MINUTES \
      EVAL_EVERY=100000 OUT=$OUT/source WORK=$WORK SETS_LIST="${DRY:+$SETS_LIST}" bash benchmarks/gpu_natural.sh \
      > "$OUT/source.log" 2>&1 || { log "source failed (see source.log)"; exit 1; }
  fi
fi
SOURCE=$(newest_step "$WORK/en/run/checkpoints")
[ -n "$SOURCE" ] || { log "no English checkpoint in $WORK/en/run/checkpoints"; exit 1; }

if has target; then
  log "target: $TARGET_N ru-festival clips + $TARGET_HELDOUT held-out"
  rm -rf "$TARGET"
  LANG=ru STAGES="render prepare" N=$TARGET_N HELDOUT=$TARGET_HELDOUT OUT=$OUT/target WORK=$WORK \
    SETS_LIST="${SETS_LIST:-}" bash benchmarks/gpu_natural.sh > "$OUT/target.log" 2>&1 \
    || { log "target failed (see target.log)"; exit 1; }
  grep -h "^wrote\|^kept" "$OUT/target.log" | tee -a "$OUT/progress.log"
fi

if has compare; then
  for seed in $SEEDS; do
    log "compare seed $seed: scratch and fine-tuned from $(basename "$SOURCE") for $MINUTES min each, at the same time"
    train_run scratch "$seed" "$CFG" &
    train_run fine-tuned "$seed" "$CFG" --init-from "$SOURCE" &
    wait
    # how each embedding row of the Russian table was filled (copied, borrowed from which symbol, the mean)
    grep -h '"init_from"' "$RUNS/fine-tuned_s$seed/events.jsonl" > "$OUT/runs/fine-tuned_s$seed/init_from.jsonl"
  done
fi

if has eval; then
  mapfile -t runs < <(trained_runs scratch fine-tuned)
  EVAL_ARGS=()
  log "eval: ${#runs[@]} runs at once on $TARGET_HELDOUT held-out sentences with their recordings"
  eval_runs "$TARGET/corpus" "${runs[@]}"
fi

if has table; then
  note="Target: $TARGET_N festvox-ru clips reading fortunes-ru ($(grep -ho '[0-9.]* h,' "$OUT/target.log" | head -1 \
| tr -d ,) of audio), $TARGET_HELDOUT held-out sentences with recordings, $CFG. Fine-tuned from $SOURCE (English, \
festival slt). $MINUTES min of training per run, both at the same time on the one device, validation every \
$EVAL_EVERY steps, seeds $SEEDS."
  $PY benchmarks/tune_compare.py table "$OUT"/runs/*/summary.json --device "$(device_name)" --note "$note" \
    > "$OUT/compare.md"
  tee -a "$OUT/progress.log" < "$OUT/compare.md"
fi
# Dry run on a CPU (festival with festvox-ru and the slt voice installed; a few minutes):
#   DRY=1 PY=$PWD/.venv/bin/python PATH=$PWD/.venv/bin:$PATH bash benchmarks/gpu_finetune_compare.sh
