#!/usr/bin/env bash
# Issue 22 item 5 on one GPU: does a short Smart Tuner study beat the hand recipe on a natural voice?
#   corpus   festival slt reading fortunes, N clips + HELDOUT held-out sentences, rendered and prepared by
#            benchmarks/gpu_natural.sh (STAGES="render prepare", same WORK folder layout)
#   tune     a study from src/tacotron/configs/ljspeech.yaml over configs/space-natural.yaml for
#            STUDY_MINUTES of wall-clock, WORKERS trials at once on the GPU, TRIAL_STEPS steps per trial,
#            scored and ASHA-pruned every REPORT_EVERY steps; the recipe's own values run as the first
#            trial (tune_compare.py baseline). tune_compare.py pick writes tuned.yaml: the best completed
#            trial, or the best other one when the recipe itself wins (pick.json says which and why).
#   compare  the recipe and tuned.yaml for MINUTES of training each on every seed of SEEDS, validated
#            every EVAL_EVERY steps, live controller off; with PAIRED=1 (default) the two configs of a
#            seed train at the same time on the GPU, as the study's trials did, so both see the same
#            share of it (PAIRED=0: one after the other, the whole GPU each)
#   eval     held-out open-vocabulary WER/CER (`tacotron eval --judge open`, as gpu_natural.sh) of each
#            run's last checkpoint, the four at once
#   table    compare.md: device, seeds, steps, minutes, steps/minutes to val diagonality >= 0.5 and to
#            the r-independent val attn/alignment >= 0.5, val mel at a common minute, WER (ceiling), CER
# Everything lands in $OUT as it goes (a cut-off run keeps its numbers): progress.log, tune.log, study/
# (report.md/html, best.yaml, study.db), pick.json, tuned.yaml, runs/<config>_s<seed>/ (train.log,
# metrics.jsonl, events.jsonl, summary.json, eval/eval.json), compare.md. Past the device tool's
# 10-minute command limit, start it with benchmarks/gpu_detached.sh. A warm machine keeps $WORK, so a
# stage can be re-run on its own (STAGES="eval table").
#
#   N=3000 HELDOUT=30 STUDY_MINUTES=9 WORKERS=2 TRIAL_STEPS=800 REPORT_EVERY=200 MINUTES=3.5 SEEDS="1 2"
#   EVAL_EVERY=100 PAIRED=1 STUDY=natural STAGES="corpus tune compare eval table" SETS_LIST="k=v ..."
#   (SETS_LIST: --set overrides for the study and every comparison run alike)
# Carried files: `bash benchmarks/fetch_carry.sh tune` (as gpu_natural.sh, plus optuna's wheels, which the
# GPU image lacks). English only.
# On the device (about 21 minutes of script, ~24 with the machine's start; carry .gl and .whl in the first
# call only), then `wait` again right after each return until "exit code: 0":
#   bash benchmarks/gpu_detached.sh start /tmp/tc 560 -- bash benchmarks/gpu_tune_compare.sh
#   bash benchmarks/gpu_detached.sh wait /tmp/tc 560
# DRY=1 runs every stage on a CPU with a tiny corpus and model in a few minutes (checks the stages, not the
# numbers): DRY=1 PY=/path/to/python bash benchmarks/gpu_tune_compare.sh
set -uo pipefail
[ "${LANG:-}" = ru ] && { echo "gpu_tune_compare.sh is English only (the open judge)" >&2; exit 2; }
if [ -n "${DRY:-}" ]; then
  : "${N:=24}" "${HELDOUT:=4}" "${STUDY_MINUTES:=3}" "${TRIAL_STEPS:=4}" "${REPORT_EVERY:=2}"
  : "${MINUTES:=0.5}" "${EVAL_EVERY:=1}" "${DEVICE:=cpu}" "${OUT:=/tmp/gpu_tune_compare_dry_out}"
  : "${WORK:=/tmp/gpu_tune_compare_dry}"
  : "${SETS_LIST:=model.attention_rnn_dim=64 model.decoder_rnn_dim=64 model.postnet_embedding_dim=64
    model.encoder_embedding_dim=64 model.symbols_embedding_dim=64 train.batch_size=4 train.checkpoint_every=5
    train.precision=fp32 train.cuda_graphs=false data.workers=1}"
fi
N=${N:-3000}
HELDOUT=${HELDOUT:-30}
STUDY_MINUTES=${STUDY_MINUTES:-9}
WORKERS=${WORKERS:-2}
TRIAL_STEPS=${TRIAL_STEPS:-800}
REPORT_EVERY=${REPORT_EVERY:-200}
MINUTES=${MINUTES:-3.5}
SEEDS=${SEEDS:-1 2}
EVAL_EVERY=${EVAL_EVERY:-100}
PAIRED=${PAIRED:-1}
STUDY=${STUDY:-natural}
STAGES=${STAGES:-corpus tune compare eval table}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/gpu_tune_compare_out}
WORK=${WORK:-/tmp/gpu_tune_compare}
CFG=src/tacotron/configs/ljspeech.yaml
SPACE=space-natural.yaml
# Validation syntheses off in trials and comparison runs alike: nothing scored reads them (the score and
# the table use teacher-forced validation), and uncapped they cost seconds per evaluation; the held-out
# judge at the end of each run (and the study's proxy) decodes for real.
SETS=(--set train.n_val_synth=0)
for item in ${SETS_LIST:-}; do SETS+=(--set "$item"); done
CORPUS=$WORK/en/corpus  # gpu_natural.sh's layout under WORK
DATA=$WORK/en/dataset
RUNS=$WORK/cmp
source benchmarks/compare_runs.sh  # set-up, log, has, train_run, eval_runs

if has corpus; then
  log "corpus: $N clips + $HELDOUT held-out (benchmarks/gpu_natural.sh render prepare)"
  N=$N HELDOUT=$HELDOUT WORK=$WORK OUT=$OUT STAGES="render prepare" bash benchmarks/gpu_natural.sh \
    || { log "corpus failed"; exit 1; }
fi

# The study's arguments, shared by tune_compare.py (same study, storage and base config) and `tacotron tune`
TUNE_ARGS=(--config "$CFG" --space "$SPACE" --study "$STUDY" --out "$WORK/tune" --data "$DATA"
  --set tune.report_every="$REPORT_EVERY" --set tune.pruner=asha --set tune.trials=100 "${SETS[@]}")
if has tune; then
  $PY benchmarks/tune_compare.py baseline "${TUNE_ARGS[@]}" 2>&1 | tail -1 | tee -a "$OUT/progress.log"
  log "tune: $STUDY_MINUTES min, $WORKERS workers, $TRIAL_STEPS steps per trial, ASHA every $REPORT_EVERY"
  start=$(date +%s)
  $PY -m tacotron tune "${TUNE_ARGS[@]}" --steps "$TRIAL_STEPS" --budget-minutes "$STUDY_MINUTES" \
    --workers "$WORKERS" --device "$DEVICE" > "$OUT/tune.log" 2>&1
  log "study exited with $? after $(($(date +%s) - start)) s"
  mkdir -p "$OUT/study"
  cp "$WORK"/tune/{report.md,report.html,best.yaml,study.db} "$OUT/study/" 2>/dev/null
  rm -f "$OUT/tuned.yaml"  # an earlier study's pick must not stand in for this one's
  $PY benchmarks/tune_compare.py pick "${TUNE_ARGS[@]}" --dest "$OUT" 2>&1 | tail -1 | tee -a "$OUT/progress.log"
  sed -n '/^## Why the winner/,/^## Trials/{/^## Trials/!p}' "$OUT/study/report.md" 2>/dev/null | tee -a "$OUT/progress.log"
fi

CONFIGS=(hand tuned)
config_of() { [ "$1" = hand ] && echo "$CFG" || echo "$OUT/tuned.yaml"; }

if has compare; then
  [ -f "$OUT/tuned.yaml" ] || { log "no tuned.yaml (see pick.json): the recipe runs alone"; CONFIGS=(hand); }
  for seed in $SEEDS; do
    log "compare seed $seed: ${CONFIGS[*]} for $MINUTES min each$([ "$PAIRED" = 1 ] && echo ", at the same time")"
    for name in "${CONFIGS[@]}"; do
      if [ "$PAIRED" = 1 ]; then train_run "$name" "$seed" "$(config_of "$name")" &
      else train_run "$name" "$seed" "$(config_of "$name")"; fi
    done
    wait
  done
fi

if has eval; then
  mapfile -t runs < <(trained_runs hand tuned)
  asr=$(((CORES - 2) / (${#runs[@]} > 0 ? ${#runs[@]} : 1)))
  asr=$((asr > 0 ? asr : 1))
  EVAL_ARGS=(--judge open --asr-workers "$asr")
  log "eval: ${#runs[@]} runs at once, held-out open judge, $asr recognisers each"
  eval_runs "$CORPUS" "${runs[@]}"
fi

if has table; then
  mode=$([ "$PAIRED" = 1 ] && echo "the two configs of a seed at the same time on the one device" || echo "one run at a time")
  note="Corpus: $N festival slt clips reading fortunes, $HELDOUT held-out sentences (open judge). Study: \
$STUDY_MINUTES min, $WORKERS trials at once, $TRIAL_STEPS steps per trial, ASHA every $REPORT_EVERY steps. \
Comparison: $MINUTES min of training per run ($mode), validation every $EVAL_EVERY steps, seeds $SEEDS."
  $PY benchmarks/tune_compare.py table "$OUT"/runs/*/summary.json --pick "$OUT/pick.json" --device "$(device_name)" \
    --note "$note" > "$OUT/compare.md"
  cat "$OUT/compare.md" | tee -a "$OUT/progress.log"
fi
