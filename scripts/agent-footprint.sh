#!/usr/bin/env bash
# Measures the idle footprint of a connected steward-agent, and of an anchor
# agent beside it in the same run: RSS (with its anonymous and file-backed
# parts) sampled every few seconds over a window, the agent's CPU time, and
# its stripped binary size.
#
# Usage: scripts/agent-footprint.sh [SECONDS] [ANCHOR]
#   SECONDS  window (default 600)
#   ANCHOR   path of a Tactical RMM agent (rmmagent) binary to run idle beside
#            ours, with no server (every address in its config is 127.0.0.1,
#            on a closed port); also read from STEWARD_FOOTPRINT_ANCHOR.
#            Without one, only our agent is measured and the script says so.
#   STEWARD_FOOTPRINT_INTERVAL  seconds between samples (default 5)
#
# The agent runs under its watchdog (`watchdog --supervise`, as on a machine
# without a service manager; with one, the watchdog is its own service and
# costs the same), and a tray runs beside it when dbus-daemon is installed
# (a private session bus; no panel shows it). Their memory is reported
# alone and together with the agent's: RSS, and PSS, which splits the pages
# the three processes of one binary share.
#
# The agent is enrolled with a fresh server (go-built here, loopback, temp
# data dir) and runs with the default policy (metrics every 60 s, inventory
# at start and daily), as in production. Sampling starts once its start-up
# inventory is uploaded.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
anchor=${2:-${STEWARD_FOOTPRINT_ANCHOR:-}}
interval=${STEWARD_FOOTPRINT_INTERVAL:-5}
if [ -n "$anchor" ] && [ ! -x "$anchor" ]; then
  echo "anchor $anchor is not an executable file" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/steward" ./cmd/steward
# The agent's release build: see the Makefile for why it omits HTTP/2 and
# inlining.
CGO_ENABLED=0 go build -tags nethttpomithttp2 -gcflags all=-l -trimpath -ldflags "-s -w" -o "$work/steward-agent" ./cmd/steward-agent
echo "agent binary (linux/amd64, stripped): $(stat -c %s "$work/steward-agent") bytes"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
"$work/steward" serve --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
for _ in $(seq 1 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.3; done

echo 'footprint-password-1' | "$work/steward" user create --data-dir "$work/data" --email bench@example.com --role owner --password-stdin >/dev/null
token=$("$work/steward" user api-token --data-dir "$work/data" --email bench@example.com --name bench 2>/dev/null)
api() { curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
client=$(api -d '{"name":"Bench"}' "$url/api/v1/clients" | field id)
site=$(api -d '{"name":"Lab"}' "$url/api/v1/clients/$client/sites" | field id)
enroll=$(api -d '{"expires_in":"1h","max_uses":1}' "$url/api/v1/sites/$site/enrollment-tokens" | field token)
"$work/steward-agent" install --no-service --server "$url" --token "$enroll" --config "$work/agent.json" >/dev/null 2>&1
mkdir -m 0755 "$work/ipc"
export STEWARD_AGENT_IPC="$work/ipc/agent.sock"
"$work/steward-agent" watchdog --supervise --config "$work/agent.json" >"$work/agent.log" 2>&1 &
watchdog=$!
for _ in $(seq 1 100); do
  grep -q 'inventory uploaded' "$work/agent.log" 2>/dev/null && break; sleep 0.3
done
agent=$(pgrep -P "$watchdog" -f 'steward-agent run' | head -1 || true)
[ -n "$agent" ] || { echo "the watchdog started no agent" >&2; cat "$work/agent.log" >&2; exit 1; }
tray= trayui=
if command -v dbus-daemon >/dev/null; then
  bus=$(dbus-daemon --session --fork --print-address=1 --print-pid=1 | head -2)
  export DBUS_SESSION_BUS_ADDRESS=$(echo "$bus" | head -1)
  buspid=$(echo "$bus" | tail -1)
  trap 'kill $(jobs -p) $buspid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
  XDG_RUNTIME_DIR="$work" "$work/steward-agent" tray --log "$work/tray.log" </dev/null >/dev/null 2>&1 &
  tray=$!
  for _ in $(seq 1 50); do trayui=$(pgrep -P "$tray" | head -1 || true); [ -n "$trayui" ] && break; sleep 0.2; done
fi
api "$url/api/v1/agents?online=true" | grep -q '"total":1' || { echo "agent did not come online" >&2; cat "$work/agent.log" >&2; exit 1; }

anchor_pid=
if [ -n "$anchor" ]; then
  # rmmagent reads tacticalagent.json from its working directory; with its
  # server unreachable it retries in the background and otherwise idles.
  mkdir "$work/anchor"
  echo '{"baseurl":"http://127.0.0.1:9","apiurl":"127.0.0.1","natsstandardport":"9","agentid":"footprint","agentpk":"1","token":"none"}' >"$work/anchor/tacticalagent.json"
  (cd "$work/anchor" && exec "$anchor" -m svc -logto stdout >"$work/anchor.log" 2>&1) &
  anchor_pid=$!
  echo "anchor: $anchor ($("$anchor" -version 2>/dev/null | head -1 || true)), pid $anchor_pid"
else
  echo "anchor: none at hand (pass an rmmagent binary as the second argument or STEWARD_FOOTPRINT_ANCHOR); measuring steward-agent alone"
fi
sleep 5 # let start-up settle before measuring idle

# kb PID FIELD: a /proc/PID/status field in kB.
kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
# minflt PID: minor page faults so far (what mapping dropped pages back costs).
minflt() { awk '{print $10}' "/proc/$1/stat"; }
# pss PID: proportional set size in kB (shared pages split among sharers).
pss() { awk '$1 == "Pss:" {print $2}' "/proc/$1/smaps_rollup"; }
declare -A sum max
for k in rss anon file arss aanon afile wrss trss turss all allpss; do sum[$k]=0; max[$k]=0; done
add() { sum[$1]=$((sum[$1] + $2)); [ "$2" -gt "${max[$1]}" ] && max[$1]=$2; return 0; }
start_cpu=$(cpu $agent); start_flt=$(minflt $agent); start=$(date +%s.%N); n=0
end=$(($(date +%s) + duration))
while [ "$(date +%s)" -lt "$end" ]; do
  add rss "$(kb $agent VmRSS)"; add anon "$(kb $agent RssAnon)"; add file "$(kb $agent RssFile)"
  w=$(kb $watchdog VmRSS); add wrss "$w"; all=$(( $(kb $agent VmRSS) + w )); allpss=$(( $(pss $agent) + $(pss $watchdog) ))
  if [ -n "$tray" ]; then
    t=$(kb $tray VmRSS); u=$( [ -n "$trayui" ] && kb $trayui VmRSS || echo 0)
    add trss "$t"; add turss "$u"; all=$((all + t + u))
    allpss=$((allpss + $(pss $tray) + $( [ -n "$trayui" ] && pss $trayui || echo 0)))
  fi
  add all "$all"; add allpss "$allpss"
  if [ -n "$anchor_pid" ]; then
    kill -0 "$anchor_pid" 2>/dev/null || { echo "anchor exited:" >&2; tail -5 "$work/anchor.log" >&2; exit 1; }
    add arss "$(kb $anchor_pid VmRSS)"; add aanon "$(kb $anchor_pid RssAnon)"; add afile "$(kb $anchor_pid RssFile)"
  fi
  n=$((n + 1))
  sleep "$interval"
done
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
used=$(($(cpu $agent) - start_cpu)); faults=$(($(minflt $agent) - start_flt))
mean() { echo $((sum[$1] / n)); }
echo "window: ${elapsed%.*} s, samples: $n every ${interval} s; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "steward-agent RSS: mean $(mean rss) KiB, max ${max[rss]} KiB (anonymous mean $(mean anon), max ${max[anon]}; file mean $(mean file), max ${max[file]})"
echo "steward-agent high-water mark (VmHWM, start-up included): $(kb $agent VmHWM) KiB"
echo "steward-agent CPU: $(echo "scale=4; 100 * $used / $ticks / $elapsed" | bc) % of one core ($used ticks); minor page faults: $faults ($(echo "$faults * 60 / $elapsed" | bc) a minute)"
echo "watchdog RSS: mean $(mean wrss) KiB, max ${max[wrss]} KiB"
if [ -n "$tray" ]; then
  echo "tray RSS: parent mean $(mean trss) KiB, max ${max[trss]} KiB; UI mean $(mean turss) KiB, max ${max[turss]} KiB"
else
  echo "tray: not measured (no dbus-daemon; Debian package dbus)"
fi
echo "agent + watchdog${tray:+ + tray}: RSS mean $(mean all) KiB, max ${max[all]} KiB; PSS mean $(mean allpss) KiB, max ${max[allpss]} KiB"
if [ -n "$anchor_pid" ]; then
  echo "anchor RSS: mean $(mean arss) KiB, max ${max[arss]} KiB (anonymous mean $(mean aanon), max ${max[aanon]}; file mean $(mean afile), max ${max[afile]})"
  echo "ratio steward-agent / anchor: mean $(echo "scale=3; $(mean rss) / $(mean arss)" | bc), max $(echo "scale=3; ${max[rss]} / ${max[arss]}" | bc)"
  echo "ratio all of ours (PSS) / anchor: mean $(echo "scale=3; $(mean allpss) / $(mean arss)" | bc)"
fi
api "$url/api/v1/agents?online=true" | grep -q '"total":1' && echo "agent still online at the end" || echo "agent NOT online at the end"
