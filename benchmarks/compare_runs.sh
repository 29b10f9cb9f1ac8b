# Sourced by the GPU scripts that train two configs side by side and tabulate them (gpu_tune_compare.sh:
# the recipe vs the tuned pick; gpu_finetune_compare.sh: from scratch vs fine-tuned). Sourcing it sets
# the machine up (gpu_env.sh once, or the checkout's src on a DRY run), CORES, PY, log(), has() and
# newest_step().
# The run helpers then read OUT, STAGES, RUNS (training folders), DATA (the prepared dataset), MINUTES,
# EVAL_EVERY, DEVICE and the SETS array (--set overrides of every run). One run is NAME_sSEED: its
# training folder $RUNS/NAME_sSEED and what comes back in $OUT/runs/NAME_sSEED (start, train.log,
# metrics.jsonl, events.jsonl, config.yaml, summary.json, eval/eval.json).
mkdir -p "$OUT" "$WORK"
CORES=${CORES:-$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")}
if [ -z "${DRY:-}" ]; then
  source benchmarks/gpu_env.sh  # once: gpu_natural.sh, run by the scripts, inherits the environment
else
  export PYTHONPATH=$PWD/src:$PWD PYTHONUNBUFFERED=1
fi
PY=${PY:-python3}
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/progress.log"; }
has() { [[ " $STAGES " == *" $1 "* ]]; }
newest_step() { ls "$1"/step_*.pt 2>/dev/null | tail -1; }  # CHECKPOINTS_DIR: its newest checkpoint, or nothing

summarize_run() {  # NAME SEED [EVAL_JSON]: $OUT/runs/NAME_sSEED/summary.json (tune_compare.py run)
  local run=$RUNS/$1_s$2 dest=$OUT/runs/$1_s$2
  [ -e "$dest/start" ] || return 0
  $PY benchmarks/tune_compare.py run "$run" --name "$1" --seed "$2" --start "$(cat "$dest/start")" \
    --out "$dest/summary.json" ${3:+--eval "$3"} 2>&1 | tail -1 | tee -a "$OUT/progress.log"
}

train_run() {  # NAME SEED CONFIG [more `tacotron train` arguments]: MINUTES of training, live controller
  # off (it would steer the runs of a comparison apart)
  local name=$1 seed=$2 config=$3 run=$RUNS/$1_s$2 dest=$OUT/runs/$1_s$2
  shift 3
  rm -rf "$run" "$dest"
  mkdir -p "$dest"
  date +%s.%N > "$dest/start"
  $PY -m tacotron train --config "$config" --data "$DATA" --run "$run" --device "$DEVICE" "$@" \
    --set train.seed="$seed" --set train.max_minutes="$MINUTES" --set train.eval_every="$EVAL_EVERY" \
    --set tune.controller=false "${SETS[@]}" > "$dest/train.log" 2>&1
  log "train $name seed $seed exited with $?"
  cp "$run/metrics.jsonl" "$run/events.jsonl" "$run/config.yaml" "$dest/" 2>/dev/null
  summarize_run "$name" "$seed"
}

trained_runs() {  # NAME...: "NAME SEED" for each seed of SEEDS whose run left a checkpoint
  local name seed
  for name in "$@"; do for seed in $SEEDS; do
    [ -n "$(newest_step "$RUNS/${name}_s$seed/checkpoints")" ] && echo "$name $seed"
  done; done
}

eval_runs() {  # CORPUS "NAME SEED"...: `tacotron eval` of each run's last checkpoint on CORPUS/heldout.txt
  # with its recordings, all at once (EVAL_ARGS: more arguments, e.g. the judge), then its summary
  local corpus=$1 item
  shift
  for item in "$@"; do
    (
      read -r name seed <<< "$item"
      dest=$OUT/runs/${name}_s$seed
      $PY -m tacotron eval --checkpoint "$(newest_step "$RUNS/${name}_s$seed/checkpoints")" \
        --file "$corpus/heldout.txt" --reference-dir "$corpus/heldout_wavs" --device "$DEVICE" \
        "${EVAL_ARGS[@]}" --out "$dest/eval" > "$dest/eval.log" 2>&1 \
        || log "eval $name seed $seed failed (see runs/${name}_s$seed/eval.log)"
      summarize_run "$name" "$seed" "$dest/eval/eval.json"
    ) &
  done
  wait
}

device_name() {  # for the table's first line
  if [ -n "${DRY:-}" ]; then echo "CPU, DRY run (tiny corpora and models: the numbers mean nothing)"
  else nvidia-smi --query-gpu=name --format=csv,noheader | head -1; fi
}
