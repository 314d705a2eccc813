#!/usr/bin/env bash
# Measures the idle footprint of a connected steward-agent: RSS and CPU
# over a window (default 600 s), plus the stripped binary size.
# Usage: scripts/agent-footprint.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/steward" ./cmd/steward
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/steward-agent" ./cmd/steward-agent
echo "agent binary (linux/amd64, stripped): $(stat -c %s "$work/steward-agent") bytes"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
"$work/steward" serve --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
for _ in $(seq 1 50); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.2; done

echo 'footprint-password-1' | "$work/steward" user create --data-dir "$work/data" --email bench@example.com --role owner --password-stdin >/dev/null
token=$("$work/steward" user api-token --data-dir "$work/data" --email bench@example.com --name bench 2>/dev/null)
api() { curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
client=$(api -d '{"name":"Bench"}' "$url/api/v1/clients" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
site=$(api -d '{"name":"Lab"}' "$url/api/v1/clients/$client/sites" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
enroll=$(api -d '{"expires_in":"1h","max_uses":1}' "$url/api/v1/sites/$site/enrollment-tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$work/steward-agent" install --no-service --server "$url" --token "$enroll" --config "$work/agent.json" >/dev/null
"$work/steward-agent" run --config "$work/agent.json" >"$work/agent.log" 2>&1 &
agent=$!
for _ in $(seq 1 50); do
  api "$url/api/v1/agents?online=true" | grep -q '"total":1' && break; sleep 0.2
done
sleep 5 # let start-up work (facts collection) settle before measuring idle

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$agent/stat"; }
start_cpu=$(cpu); start=$(date +%s.%N); max_rss=0; sum_rss=0; n=0
end=$(( $(date +%s) + duration ))
while [ "$(date +%s)" -lt "$end" ]; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
  [ "$rss" -gt "$max_rss" ] && max_rss=$rss
  sum_rss=$((sum_rss + rss)); n=$((n + 1))
  sleep 5
done
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
used=$(( $(cpu) - start_cpu ))
echo "window: ${elapsed%.*} s, samples: $n"
echo "agent RSS: mean $((sum_rss / n)) KiB, max $max_rss KiB"
echo "agent CPU: $(echo "scale=4; 100 * $used / $ticks / $elapsed" | bc) % of one core ($used ticks)"
api "$url/api/v1/agents?online=true" | grep -q '"total":1' && echo "agent still online at the end" || echo "agent NOT online at the end"
