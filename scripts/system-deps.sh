#!/usr/bin/env bash
# System packages that the build and the test suite use, installed with apt-get where they are
# missing (only as root on a Debian-like machine; elsewhere it names what is missing, and the
# tests that need it skip with a message). Run by .ci/run and by `npm test` (pretest).
# One line per package: "<command that shows it is installed> <Debian package>", or
# "dpkg <Debian package>" for a package without a command of its own (checked with dpkg -s).
# clang and libclang-rt-14-dev (libFuzzer, ASan, UBSan): scripts/sanitize.sh and scripts/fuzz.js.
set -uo pipefail
read -r -d '' WANTED <<'LIST'
cmake cmake
g++ g++
make make
redis-server redis-server
chromium chromium
clang clang
dpkg libclang-rt-14-dev
LIST

missing=()
while read -r cmd pkg; do
  [[ -z "$cmd" ]] && continue
  if [[ "$cmd" == dpkg ]]; then
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  else
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done <<<"$WANTED"
((${#missing[@]})) || exit 0

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]}" >&2
  log=$(mktemp)
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -30 "$log" >&2
    echo "system-deps: apt-get failed; tests that need ${missing[*]} will skip" >&2
  fi
  rm -f "$log"
else
  echo "system-deps: not installed: ${missing[*]} (install them to run every test; the tests that need them skip)" >&2
fi
exit 0
