#!/usr/bin/env bash
# Fetch, on the CPU machine, the git-ignored files the GPU scripts carry to a lent GPU machine that has no
# package registry: .gl/ (Debian packages: espeak-ng, festival with the slt voice, fortunes en/ru) and
# .whl/ (the wheels the GPU image lacks, for its Python 3.12). Name .gl and .whl in the device call's
# `carry` (64 MiB with the tree). Wheels the GPU image already has are not fetched; keep it that way, or
# the carry outgrows its limit.
#
#   bash benchmarks/fetch_carry.sh            .gl and .whl (about 41 MB)
#   bash benchmarks/fetch_carry.sh tune       also optuna and what it needs, into .whl (gpu_tune*.sh)
#   bash benchmarks/fetch_carry.sh ru         also festvox-ru, split into .carry/festvox-ru (split_carry.sh)
#   bash benchmarks/fetch_carry.sh hifigan    also the universal HiFi-GAN generator, split into .carry/hifigan-universal
set -euo pipefail
DEBS=(espeak-ng libespeak-ng1 espeak-ng-data libsonic0 festival festlex-cmu festlex-poslex festvox-us-slt-hts
  libestools2.5 fortunes fortunes-min fortunes-ru)
locked() { for name in "$@"; do grep -m1 "^$name==" requirements.lock; done; }  # NAME==VERSION of the lock
wheels() {  # cp312 manylinux wheels (or pure-Python ones) of the given requirements, into .whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any -d .whl "$@"
}
mkdir -p .gl .whl
apt-get update -qq
(cd .gl && apt-get download -qq "${DEBS[@]}")
# at the versions requirements.lock names, except pocketsphinx: 5.0.4 is the newest release with a cp312
# manylinux wheel (the open-vocabulary judge)
# phonemizer (text.phonemes: true) with what it needs beside the image's typing-extensions: pure Python, 0.5 MB
mapfile -t locked_wheels < <(locked librosa soundfile soxr audioread pooch num2words decorator platformdirs cffi pycparser \
  phonemizer attrs dlinfo joblib)
wheels pocketsphinx==5.0.4 "${locked_wheels[@]}"
python3 -m pip wheel -q --no-deps -w .whl "$(locked docopt)"  # num2words needs it; PyPI has only its source (pure Python)
for extra in "$@"; do
  case $extra in
    tune)
      mapfile -t tune_wheels < <(locked optuna sqlalchemy alembic colorlog mako greenlet)
      wheels "${tune_wheels[@]}" ;;
    ru)
      tmp=$(mktemp -d)
      (cd "$tmp" && apt-get download -qq festvox-ru)
      bash benchmarks/split_carry.sh "$tmp"/festvox-ru_*.deb festvox-ru
      rm -rf "$tmp" ;;
    hifigan)
      gen=$(.venv/bin/python -c "from tacotron.infer.hifigan import pretrained_path as p; print(p('universal'))")
      bash benchmarks/split_carry.sh "$gen" hifigan-universal 60 ;;
    *) echo "unknown extra '$extra' (tune, ru, hifigan)" >&2; exit 2 ;;
  esac
done
du -sh .gl .whl
