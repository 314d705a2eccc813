#!/usr/bin/env bash
# test-update.sh: a signed agent update under wine, through the Windows
# services, against a real server.
#
# Usage: scripts/wine/test-update.sh
# Env:   WINE_WORK   wine prefix and tools, as for ci-wine.sh (default /tmp/wine-update)
#
# Steps: make a release key; build the Windows agent at 1.0.0 and 1.1.0 with
# the key built in; start `steward serve --release-key`; under wine install
# 1.0.0 as the StewardAgent and StewardWatchdog services; sign and publish
# 1.1.0 with the release tools; "update now". The agent downloads, verifies,
# runs the new binary's self-check, renames its running exe aside, moves the
# new one in and exits with its restart code; wine's service manager has no
# recovery actions, so the watchdog starts the agent again (what it is there
# for), on 1.1.0. The server confirms the update in the handshake, the
# watchdog moves to 1.1.0 and the previous binary is removed. Then 1.2.0,
# whose binary passes its self-check but fails to start: the watchdog rolls
# it back to 1.1.0 and the agent reports it. Finally uninstall.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
export PATH=$PATH:/usr/local/go/bin
work=${WINE_WORK:-${TMPDIR:-/tmp}/wine-update}

WINE_WORK=$work bash "$here/ci-wine.sh" ./packaging/ >/dev/null
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEARCH=win64
export WINEDLLOVERRIDES="mscoree=d;mshtml=d;winemenubuilder.exe=d"
unset DISPLAY

tmp=$(mktemp -d)
server_pid= installed=
pf=$WINEPREFIX/drive_c/"Program Files"/Steward
cfg=$WINEPREFIX/drive_c/ProgramData/Steward/agent.json
cleanup() {
  [ -n "$installed" ] && wine "$pf/steward-agent.exe" uninstall >/dev/null 2>&1
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  wineserver -k 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "test-update: FAIL: $*" >&2
  echo "--- server log (last lines)" >&2; tail -30 "$tmp/server.log" >&2 || true
  exit 1
}
step() { printf 'test-update: %s\n' "$*"; }

step "building the server, the release key and the agent at 1.0.0, 1.1.0 and 1.2.0"
CGO_ENABLED=0 go build -trimpath -o "$tmp/steward" ./cmd/steward
"$tmp/steward" release keygen --out "$tmp/keys" >/dev/null
pub=$(cat "$tmp/keys/release.pub")
overlay=$("$here/goroot-overlay/make-overlay.sh" "$work/overlay")
build_agent() {
  CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -overlay "$overlay" -trimpath -tags nethttpomithttp2 \
    -ldflags "-s -w -X github.com/steward-rmm/steward/internal/agent.Version=$1 -X 'github.com/steward-rmm/steward/internal/agent.ReleaseKeys=$pub' $2" \
    -o "$tmp/agent-$1.exe" ./cmd/steward-agent
}
build_agent 1.0.0 ""
build_agent 1.1.0 ""

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
"$tmp/steward" serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" --release-key "$tmp/keys/release.pub" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.3; done
curl -fs "$url/healthz" >/dev/null || fail "server did not start"
echo 'update-test-password-1' | "$tmp/steward" user create --data-dir "$tmp/data" --email upd@example.com --role owner --password-stdin >/dev/null
api_token=$("$tmp/steward" user api-token --data-dir "$tmp/data" --email upd@example.com --name upd 2>/dev/null)
api() { curl -fsS -H "Authorization: Bearer $api_token" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
client=$(api -d '{"name":"Update"}' "$url/api/v1/clients" | field id)
site=$(api -d '{"name":"Wine"}' "$url/api/v1/clients/$client/sites" | field id)
token=$(api -d '{"expires_in":"1h","max_uses":1}' "$url/api/v1/sites/$site/enrollment-tokens" | field token)

# agent_field prints a field of the one agent.
agent_field() { api "$url/api/v1/agents" | python3 -c "import json,sys; a=json.load(sys.stdin)['items']; print(a[0]['$1'] if a else '')"; }
# wait_version waits until the agent is online running $1.
wait_version() {
  for _ in $(seq 1 600); do
    if [ "$(agent_field status)" = online ] && [ "$(agent_field version)" = "$1" ]; then return 0; fi
    sleep 0.5
  done
  fail "the agent did not come online on $1 (status $(agent_field status), version $(agent_field version))"
}
# update_step prints the step of the agent's update to version $1.
update_step() {
  api "$url/api/v1/agents/$agent/updates" |
    python3 -c "import json,sys; u=[x for x in json.load(sys.stdin)['updates'] if x['to_version']=='$1']; print(u[0]['step']+' '+u[0]['reason'] if u else '')"
}
wait_step() {
  local got=
  for _ in $(seq 1 600); do
    got=$(update_step "$1")
    case "$got" in "$2"*) echo "$got"; return 0 ;; esac
    sleep 0.5
  done
  fail "the update to $1 did not reach $2 (at: $got)"
}

wineserver -p
wine cmd /c exit 0 >/dev/null 2>&1
# A clean machine: an earlier run's enrollment or update state (versions
# that failed there are not taken again) must not leak into this one.
rm -rf "$WINEPREFIX/drive_c/ProgramData/Steward"
step "installing 1.0.0 as the StewardAgent and StewardWatchdog services"
installed=1
echo "$token" | wine "$tmp/agent-1.0.0.exe" install --server "$url" --token - >"$tmp/install.log" 2>&1 ||
  fail "install exited $?: $(tr -d '\r' <"$tmp/install.log")"
wait_version 1.0.0
agent=$(agent_field id)

step "signing and publishing 1.1.0; update now"
"$tmp/steward" release sign --key "$tmp/keys/release.key" --version 1.1.0 "$tmp/agent-1.1.0.exe" >/dev/null
"$tmp/steward" release publish --data-dir "$tmp/data" --release-key "$tmp/keys/release.pub" --file "$tmp/agent-1.1.0.exe" >/dev/null 2>&1
start=$(date +%s.%N)
api -d '{}' "$url/api/v1/agents/$agent/update" | grep -q '"offered":1' || fail "1.1.0 was not offered"
wait_step 1.1.0 confirmed >/dev/null
wait_version 1.1.0
step "1.1.0 confirmed $(python3 -c "print(round($(date +%s.%N) - $start, 1))")s after update now (the restart waits for the watchdog: wine has no recovery actions)"
cmp -s "$pf/steward-agent.exe" "$tmp/agent-1.1.0.exe" || fail "Program Files holds another binary than 1.1.0"
for _ in $(seq 1 240); do [ ! -e "$pf/steward-agent.previous.exe" ] && break; sleep 0.5; done
[ ! -e "$pf/steward-agent.previous.exe" ] || fail "the previous binary was not removed after the watchdog moved to 1.1.0"
wine "$pf/steward-agent.exe" version | tr -d '\r' | grep -q '1.1.0' || fail "the installed binary does not say 1.1.0"

step "1.2.0 passes its self-check but cannot start: the watchdog rolls it back"
# A binary that answers `version --check` and exits at once otherwise.
mkdir -p "$tmp/broken"
cat >"$tmp/broken/main.go" <<'EOF'
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("1.2.0")
		return
	}
	fmt.Fprintln(os.Stderr, "broken build")
	os.Exit(1)
}
EOF
(cd "$tmp/broken" && printf 'module broken\n\ngo 1.22\n' >go.mod && CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -overlay "$overlay" -o "$tmp/agent-1.2.0.exe" .)
# Signed as 1.2.0 by the release key (the release tools refuse a binary
# that is not the agent, so the statement is made with the test's helper).
go run ./scripts/wine/signrelease "$tmp/keys/release.key" 1.2.0 windows amd64 "$tmp/agent-1.2.0.exe" >"$tmp/agent-1.2.0.exe.sig"
"$tmp/steward" release publish --data-dir "$tmp/data" --release-key "$tmp/keys/release.pub" --file "$tmp/agent-1.2.0.exe" >/dev/null 2>&1
start=$(date +%s.%N)
api -d '{}' "$url/api/v1/agents/$agent/update" | grep -q '"offered":1' || fail "1.2.0 was not offered"
got=$(wait_step 1.2.0 rolled_back)
wait_version 1.1.0
cmp -s "$pf/steward-agent.exe" "$tmp/agent-1.1.0.exe" || fail "after the rollback Program Files does not hold 1.1.0"
step "rolled back to 1.1.0 $(python3 -c "print(round($(date +%s.%N) - $start, 1))")s after update now: ${got#rolled_back }"

step "uninstall"
wine "$pf/steward-agent.exe" uninstall >"$tmp/uninstall.log" 2>&1 || fail "uninstall exited $?: $(tr -d '\r' <"$tmp/uninstall.log")"
installed=
[ ! -e "$pf/steward-agent.exe" ] || fail "uninstall left steward-agent.exe"
[ ! -e "$WINEPREFIX/drive_c/ProgramData/Steward/update" ] || fail "uninstall left the update state"
step "PASS"
