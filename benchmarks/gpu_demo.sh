#!/usr/bin/env bash
# The GPU half of `make demo DEVICE=cuda`, for a lent GPU machine with no package registry:
# espeak-ng comes from carried Debian packages (.gl/*.deb, downloaded with apt-get download), librosa/soundfile/num2words from carried
# wheels (.whl/*.whl). Runs the CUDA tests, builds and prepares the same demo corpus as the CPU demo,
# trains the shipped demo-cuda.yaml for MINUTES, synthesises held-out sentences and packs the results
# into $OUT (WER is judged on the CPU machine, which has pocketsphinx: benchmarks/judge_synth.py).
#
# Fetch the carried files on the CPU machine (both folders are git-ignored, name them in `carry`):
#   bash benchmarks/fetch_carry.sh
set -uo pipefail
MINUTES=${MINUTES:-6}
SETS=()  # extra config overrides: SETS_LIST="loss.guided_attn_weight=300 ..."
for item in ${SETS_LIST:-}; do SETS+=(--set "$item"); done
OUT=${OUT:-/tmp/gpu_demo_out}
mkdir -p "$OUT"
source benchmarks/gpu_env.sh
[ -n "${SKIP_TESTS:-}" ] || python3 -m pytest -q -p no:cacheprovider tests/train/test_cuda.py tests/model/test_fast_paths.py \
  tests/model/test_decoding_paths.py tests/train/test_graphs.py tests/audio/test_mel.py > "$OUT/cuda_tests.log" 2>&1
[ -n "${SKIP_TESTS:-}" ] || tail -5 "$OUT/cuda_tests.log"
GRAPHS=true
[ -n "${SKIP_TESTS:-}" ] || ! grep -q "failed" "$OUT/cuda_tests.log" || GRAPHS=false
D=/tmp/gpu_demo
set -e
build_demo_dataset $D demo-cuda.yaml
python3 -m tacotron train --config demo-cuda.yaml --data $D/dataset --run $D/run --device cuda \
  --set train.max_minutes="$MINUTES" --set train.cuda_graphs=$GRAPHS "${SETS[@]}" 2>&1 | grep -v "it/s" | tail -20
python3 -c "from tacotron.data.demo_corpus import heldout_sentences as h; print('\n'.join(h('en', 16, 0)))" \
  > $D/heldout.txt
python3 -m tacotron synth --checkpoint $D/run --file $D/heldout.txt --out $D/synth --vocoder griffin-lim --allow-truncated \
  --device cuda 2>&1 | tail -3
tar czf "$OUT/synth.tgz" -C $D synth heldout.txt
tar czf "$OUT/run.tgz" -C $D/run metrics.jsonl events.jsonl train.log config.yaml
