#!/usr/bin/env bash
# Times what a newcomer waits for on a fresh clone of this repository's HEAD, in a temporary
# directory (the working tree is not touched):
#   run   `make run` until the server logs "listening" (then stops it with Ctrl-C)
#   test  `make setup-test`: every venv and tool `make test` installs before its first check
#   setup `make setup`: only the main venv with every Python tool (the part `make run` shares)
#   both  `make run`, then `make setup-test` in the same clone (what is left to install)
# Setup steps also report their CPU time (user + system), steadier than wall time on a busy machine.
# Usage: scripts/time-fresh-clone.sh run|test|setup|both [REF [PATH...]]
# REF defaults to HEAD; WORKTREE is HEAD plus the working tree's uncommitted and untracked files,
# or only the PATHs named after it (files or directories).
set -euo pipefail
what="${1:?usage: time-fresh-clone.sh run|test|setup|both [REF]}"
ref="${2:-HEAD}"
shift $(($# < 2 ? $# : 2))
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

git clone -q "$repo" "$work/clone"
if [[ "$ref" == WORKTREE && $# -gt 0 ]]; then
  (cd "$repo" && cp -r --parents -t "$work/clone" "$@")
elif [[ "$ref" == WORKTREE ]]; then
  (cd "$repo" && git ls-files -z -m -o --exclude-standard | xargs -0 -r cp --parents -t "$work/clone")
  (cd "$repo" && git ls-files -z -d | (cd "$work/clone" && xargs -0 -r rm -f))
else
  git -C "$work/clone" checkout -q "$ref"
fi
cd "$work/clone"

seconds_since() {
  local ms=$((($(date +%s%N) - $1) / 1000000))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

time_run() {
  local start log pid elapsed
  log="$work/run.log"
  : >"$log"
  start=$(date +%s%N)
  # setsid: the server gets a process group of its own, so Ctrl-C reaches make and python alone.
  setsid make run PORT=0 >"$log" 2>&1 &
  pid=$!
  until grep -q "listening on" "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      echo "make run exited before listening" >&2
      return 1
    fi
    sleep 0.1
  done
  elapsed=$(seconds_since "$start")
  kill -INT -- "-$pid"
  wait "$pid" || true
  echo "make run to \"listening\": $elapsed s"
}

time_make() {
  local times wall user sys
  TIMEFORMAT="%R %U %S"
  times=$({ time make "$1" >"$work/make.log" 2>&1; } 2>&1) || { cat "$work/make.log" >&2; return 1; }
  read -r wall user sys <<<"$times"
  echo "make $1: $wall s wall, $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }') s CPU"
}

echo "fresh clone of $(git rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ), $(python3 --version)"
case "$what" in
  run) time_run ;;
  test) time_make setup-test ;;
  setup) time_make setup ;;
  both) time_run && time_make setup-test ;;
  *) echo "usage: time-fresh-clone.sh run|test|setup|both [REF]" >&2; exit 2 ;;
esac
