#!/usr/bin/env bash
# Runs the test suite the way that finds order- and timing-dependent tests:
# every test several times in one process (-count), beside CPU hogs that
# keep the machine loaded, against real PostgreSQL and NATS. Then, unless
# --no-race, the packages with concurrency once more under the race
# detector. Prints go test's output and ends with the failed tests.
# Usage: scripts/test-stress.sh [--count N] [--hogs N] [--no-race] [PACKAGES...]
set -euo pipefail
cd "$(dirname "$0")/.."

count=3 hogs=2 race=1
while [ $# -gt 0 ]; do
  case $1 in
    --count) count=$2; shift 2 ;;
    --hogs) hogs=$2; shift 2 ;;
    --no-race) race=; shift ;;
    *) break ;;
  esac
done
pkgs=("${@:-./...}")
race_pkgs=(./internal/hub/ ./internal/command/ ./internal/gateway/ ./internal/push/ ./internal/alerting/
  ./internal/cluster/ ./internal/agent/control/ ./internal/sim/)

export STEWARD_TEST_DATABASE_URL="${STEWARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export STEWARD_TEST_NATS_URL="${STEWARD_TEST_NATS_URL:-nats://127.0.0.1:4222}"

log=$(mktemp)
hog_pids=()
cleanup() {
  [ ${#hog_pids[@]} -eq 0 ] || kill "${hog_pids[@]}" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 1 "$hogs"); do
  (while :; do :; done) &
  hog_pids+=($!)
done

status=0
echo "== go test -count=$count beside $hogs CPU hogs: ${pkgs[*]}"
go test -count="$count" -timeout 90m "${pkgs[@]}" 2>&1 | tee "$log" || status=1
if [ -n "$race" ]; then
  echo "== go test -race beside $hogs CPU hogs: ${race_pkgs[*]}"
  go test -race -count=1 -timeout 60m "${race_pkgs[@]}" 2>&1 | tee -a "$log" || status=1
fi

echo "== failed tests"
grep -E '^[[:space:]]*--- FAIL: |^FAIL[[:space:]]+[^[:space:]]|^WARNING: DATA RACE|^panic: ' "$log" || echo "none"
exit "$status"
