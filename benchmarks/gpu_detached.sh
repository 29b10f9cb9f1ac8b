#!/usr/bin/env bash
# Run a long GPU script past the device tool's 10-minute command limit: the first call starts it in its
# own process session (it runs on while the machine stays held), every call (the first included) waits
# up to WAIT seconds and brings back what it has written so far. Call again within the machine's warm
# window (30 s) to keep it held. Keep WAIT well under the call's limit_s, which is the smaller of the
# command timeout and the session's remaining device time (a wait past it is killed, with only the last
# minute's archive to show).
#
#   bash benchmarks/gpu_detached.sh start KEEP WAIT -- SCRIPT [ARGS...]   (environment passes through)
#   bash benchmarks/gpu_detached.sh wait  KEEP WAIT
#
# KEEP: a folder outside the working tree that outlives the call (the script's own OUT); its small
# files come back in $OUT/keep.tgz (wavs and .npy mels excluded, except KEEP/heldout/griffin-lim/*.wav
# (the first 20) in $OUT/heldout_wavs.tgz and KEEP/sentences/ in $OUT/sentences_wavs.tgz). KEEP/exit_code appears when
# the script has ended.
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
pack() {  # into a temporary name, then renamed: a call cut off mid-tar keeps the previous whole archive
  [ -n "${OUT:-}" ] || return 0
  tar -C "$keep" --exclude='*.wav' --exclude='*.npy' -czf "$OUT/.keep.tgz" . && mv "$OUT/.keep.tgz" "$OUT/keep.tgz"
  if [ -d "$keep/sentences" ]; then  # SENTENCES=f of gpu_natural.sh: a few wavs per vocoder
    tar -C "$keep" -czf "$OUT/.sentences_wavs.tgz" sentences && mv "$OUT/.sentences_wavs.tgz" "$OUT/sentences_wavs.tgz"
  fi
  if [ -d "$keep/heldout/griffin-lim" ]; then  # the first 20 (all 50 are over the 16 MiB a file may bring back)
    (cd "$keep/heldout" && ls griffin-lim/*.wav | head -20 | tar -czf "$OUT/.heldout_wavs.tgz" -T -) \
      && mv "$OUT/.heldout_wavs.tgz" "$OUT/heldout_wavs.tgz"
  fi
}
# Packed every minute while waiting, not only at the end: a call the device tool cuts off (its limit
# shrinks to the session's remaining device time) still brings back what was written up to the last minute.
end=$(($(date +%s) + wait_s))
packed=0
while [ ! -e "$keep/exit_code" ] && [ "$(date +%s)" -lt "$end" ]; do
  sleep 10
  [ $(($(date +%s) - packed)) -ge 60 ] && { pack; packed=$(date +%s); }
done
echo "running for $(($(date -u +%s) - $(cat "$keep/started"))) s; exit code: $(cat "$keep/exit_code" 2>/dev/null || echo running)"
tail -n 25 "$keep/progress.log" 2>/dev/null
pack
exit 0
