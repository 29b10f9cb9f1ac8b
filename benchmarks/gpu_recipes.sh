#!/usr/bin/env bash
# Held-out WER against training steps for CPU-demo recipes (the shipped demo.yaml plus overrides), trained side
# by side on one lent GPU. How many steps a recipe needs to become intelligible does not depend on the
# device; how many steps fit in the CPU demo's 30 minutes is `tacotron bench --device cpu --sections
# cpu_demo`. Together they pick the shipped demo.yaml without spending hours of 2-core CPU time per candidate.
#
#   RECIPES="base: lr2e3:train.lr=2e-3 l1:loss.mel_loss=l1;model.postnet_dropout=0.1" \
#   STEPS=1600 EVERY=400 MINUTES=6 bash benchmarks/gpu_recipes.sh
#
# Each recipe trains in its own process (all at once), checkpoints every EVERY steps; every checkpoint then
# synthesises the 8 held-out sentences of `make demo` (Griffin-Lim) and is judged like `tacotron eval`
# (pocketsphinx, bigram LM from the training text; ceiling = espeak-ng truth through mel -> Griffin-Lim).
# Needs .gl/ and .whl/ (incl. the cp312 pocketsphinx 5.0.4 wheel for the judge) in `carry`: `bash benchmarks/fetch_carry.sh`.
# Cost measured on one H100 (2026-11-27): the small demo model is latency-bound there too; four recipes
# side by side reached ~470 steps each in 5.5 minutes, and synthesising + judging 8 checkpoints took
# ~6.5 minutes. Plan one call for training and one for judging (JUDGE_ONLY=1 re-judges a warm machine's runs;
# existing syntheses are reused).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_recipes_out}
STEPS=${STEPS:-1600}
EVERY=${EVERY:-400}
MINUTES=${MINUTES:-6}
CKPT_EVERY=${CKPT_EVERY:-$EVERY}  # checkpoints (what gets judged); EVERY is the validation interval
mkdir -p "$OUT"
source benchmarks/gpu_env.sh
D=/tmp/gpu_recipes
set -e
build_demo_dataset $D demo.yaml
python3 -c "from tacotron.data.demo_corpus import heldout_sentences as h; print('\n'.join(h('en', 8, 0)))" \
  > $D/heldout.txt
[ -n "${JUDGE_ONLY:-}" ] || for recipe in $RECIPES; do
  name=${recipe%%:*}
  sets=()
  IFS=';' read -ra pairs <<< "${recipe#*:}"  # ';' between overrides: values may hold commas
  for pair in "${pairs[@]}"; do [ -n "$pair" ] && sets+=(--set "$pair"); done
  python3 -m tacotron train --config demo.yaml --data $D/dataset --run "$D/$name" --device cuda \
    --set train.max_minutes="$MINUTES" --set train.max_steps="$STEPS" --set train.checkpoint_every="$CKPT_EVERY" \
    --set train.eval_every="$EVERY" --set train.keep_last=50 --set train.cuda_graphs=true \
    --set train.graph_mel_multiple=64 --set train.graph_text_multiple=32 "${sets[@]}" \
    > "$OUT/$name.train.log" 2>&1 &
done
wait
judge_checkpoint() {  # RUN_DIR CHECKPOINT
  local synth="${2%.pt}.synth"
  [ -d "$synth" ] || python3 -m tacotron synth --checkpoint "$2" --file $D/heldout.txt --out "$synth" --vocoder griffin-lim \
    --device cuda --allow-truncated > "$synth.log" 2>&1
  echo "{\"recipe\": \"$(basename "$1")\", \"checkpoint\": \"$(basename "$2")\", \"judge\": $(python3 \
    benchmarks/judge_synth.py "$synth" $D/corpus/metadata.csv 2>>"$synth.log" | tail -1)}"
}
export -f judge_checkpoint
export D
for run in $D/*/; do
  [ -d "$run/checkpoints" ] || continue
  cp "$run/metrics.jsonl" "$OUT/$(basename "$run").metrics.jsonl"
  [ "${JUDGE:-1}" = 1 ] || continue  # JUDGE=0: validation metrics only (alignment screens)
  for ckpt in "$run"/checkpoints/step_*.pt; do echo "$run $ckpt"; done
done | xargs -P 8 -L 1 bash -c 'judge_checkpoint "$0" "$1"' >> "$OUT/wer.jsonl"
cat "$OUT/wer.jsonl"
