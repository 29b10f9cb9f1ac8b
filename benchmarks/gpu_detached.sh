#!/usr/bin/env bash
# Run a long GPU script past the device tool's 10-minute command limit: the first call starts it in its
# own process session (it runs on while the machine stays held), every call (the first included) waits
# up to WAIT seconds and brings back what it has written so far. Call again within the machine's warm
# window (30 s) to keep it held.
#
#   bash benchmarks/gpu_detached.sh start KEEP WAIT -- SCRIPT [ARGS...]   (environment passes through)
#   bash benchmarks/gpu_detached.sh wait  KEEP WAIT
#
# KEEP: a folder outside the working tree that outlives the call (the script's own OUT); its small
# files come back in $OUT/keep.tgz (wavs excluded, except KEEP/heldout/griffin-lim/*.wav in
# $OUT/heldout_wavs.tgz). KEEP/exit_code appears when the script has ended.
set -u
mode=$1 keep=$2 wait_s=$3
shift 3
mkdir -p "$keep"
if [ "$mode" = start ]; then
  [ "${1:-}" = -- ] && shift
  [ -e "$keep/started" ] && { echo "already started in $keep"; exit 1; }
  date -u +%s > "$keep/started"
  OUT=$keep setsid nohup bash -c '"$@"; echo $? > "$OUT/exit_code"' _ "$@" \
    > "$keep/script.log" 2>&1 < /dev/null &
fi
end=$(($(date +%s) + wait_s))
while [ ! -e "$keep/exit_code" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 10; done
echo "running for $(($(date -u +%s) - $(cat "$keep/started"))) s; exit code: $(cat "$keep/exit_code" 2>/dev/null || echo running)"
tail -n 25 "$keep/progress.log" 2>/dev/null
if [ -n "${OUT:-}" ]; then
  tar -C "$keep" --exclude='*.wav' -czf "$OUT/keep.tgz" .
  [ -d "$keep/heldout/griffin-lim" ] && tar -C "$keep/heldout" -czf "$OUT/heldout_wavs.tgz" griffin-lim
fi
exit 0
