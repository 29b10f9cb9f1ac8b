#!/usr/bin/env bash
# A file too large for one device call's carry (64 MiB, working tree included), such as the 179 MB
# festvox-ru package, split into parts under .carry/NAME/ (git-ignored): carry .carry/NAME/part_00 in
# the first call (beside .gl and .whl) and one more part in each following call made while the machine
# is warm (ignored paths already there are kept between calls); the GPU scripts join them there.
#
#   bash benchmarks/split_carry.sh FILE NAME [FIRST_MIB] [MIB]   (defaults 14 and 55)
set -euo pipefail
file=$1 name=$2 first=${3:-14} size=${4:-55}
grep -qx '/.carry/' .git/info/exclude 2>/dev/null || echo /.carry/ >> .git/info/exclude
rm -rf ".carry/$name" && mkdir -p ".carry/$name"
head -c $((first << 20)) "$file" > ".carry/$name/part_00"
tail -c +$(((first << 20) + 1)) "$file" | split -b $((size << 20)) -d -a 2 --numeric-suffixes=1 - ".carry/$name/part_"
sha256sum "$file" | cut -d' ' -f1 > ".carry/$name/sha256"
ls -l ".carry/$name"
