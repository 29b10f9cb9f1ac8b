# Sourced by the GPU scripts (gpu_demo.sh, gpu_tune.sh) on a lent GPU machine with no package registry:
# espeak-ng from carried Debian packages (.gl/*.deb), librosa/soundfile/num2words from carried wheels
# (.whl/*.whl); see gpu_demo.sh for how to fetch both (git-ignored; name them in `carry`).
# A script that sources this and then runs another that sources it too (gpu_tune_compare.sh runs
# gpu_natural.sh) sets the machine up once: the child inherits the exported environment.
if [ "${TACOTRON_GPU_ENV:-}" != ready ]; then
  mkdir -p /tmp/esp
  for f in .gl/*.deb; do dpkg -x "$f" /tmp/esp; done
  # espeak-ng links libpcaudio (ALSA/PulseAudio playback) although `-w file` never plays: a no-op stub
  # (benchmarks/pcaudio_stub.c) replaces it and its audio-stack dependencies
  gcc -shared -fPIC -O2 -Wl,-soname,libpcaudio.so.0 -o /tmp/esp/usr/lib/x86_64-linux-gnu/libpcaudio.so.0 \
    benchmarks/pcaudio_stub.c
  export PATH=/tmp/esp/usr/bin:$PATH ESPEAK_DATA_PATH=/tmp/esp/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH=/tmp/esp/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  # phonemizer (text.phonemes: true) looks for libespeak-ng.so, which only the -dev package provides
  export PHONEMIZER_ESPEAK_LIBRARY=/tmp/esp/usr/lib/x86_64-linux-gnu/libespeak-ng.so.1
  python3 -m pip install -q --upgrade --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD/src:$PWD PYTHONUNBUFFERED=1
  espeak-ng --version
  nvidia-smi -L
  export TACOTRON_GPU_ENV=ready
fi

# The English demo corpus (1,200 espeak-ng utterances, held-out sentences excluded), prepared for
# CONFIG into DIR/dataset; skipped when DIR/dataset exists (a warm machine keeps ignored folders).
build_demo_dataset() {  # DIR CONFIG
  [ -f "$1/dataset/manifest.jsonl" ] && { echo "reusing $1/dataset"; return 0; }
  python3 -m tacotron demo-data --lang en --n 1200 --out "$1/corpus"
  python3 -m tacotron prepare "$1/corpus" --out "$1/dataset" --config "$2" --no-progress --workers 12
}
