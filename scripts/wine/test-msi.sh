#!/usr/bin/env bash
# test-msi.sh: install the agent's MSI under wine against a real server,
# see the agent come online, and uninstall it.
#
# Usage: scripts/wine/test-msi.sh [MSI]
#   MSI  the x64 MSI to test; without it one is built from the current
#        sources (steward-package msi).
# Env:
#   WINE_WORK   wine prefix and tools, as for ci-wine.sh (default /tmp/wine-msi)
#   STEWARD_MSI_NOSERVICE=1 (for a build whose `install` cannot register the
#               services): the MSI gets INSTALLFLAGS=--no-service and this
#               script runs `steward-agent.exe run` itself. With 0 (the
#               default), the
#               services the install custom action registers must bring the
#               agent online.
#
# Steps: start `steward serve` on a temp data dir, make enrollment tokens
# through its API, then under wine:
#   msiexec /i without SERVER/TOKEN is refused; with a bad TOKEN it fails and
#   rolls back (no product, file, service or config left);
#   msiexec /i SERVER=... TOKEN=... installs, the agent comes online, the token
#   is not in the log, a stopped watchdog is started again by the agent;
#   the same MSI again (maintenance mode) keeps the enrollment;
#   `steward-agent uninstall` run by hand hands over to msiexec /x: the product
#   is gone too, and the MSI installs again (a new agent online);
#   the agent removed behind the MSI's back (`uninstall --from-msi` by hand,
#   as older agents did): msiexec /i without a token is refused, with one it
#   enrolls again although the product is registered;
#   a newer MSI upgrades; msiexec /x removes everything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
export PATH=$PATH:/usr/local/go/bin
work=${WINE_WORK:-${TMPDIR:-/tmp}/wine-msi}
noservice=${STEWARD_MSI_NOSERVICE:-0}
msi=${1:-}

# The wine prefix, shim and overlay: ci-wine.sh makes them (and runs no
# tests when given a package without any).
WINE_WORK=$work bash "$here/ci-wine.sh" ./packaging/ >/dev/null
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEARCH=win64
export WINEDLLOVERRIDES="mscoree=d;mshtml=d;winemenubuilder.exe=d"
unset DISPLAY

tmp=$(mktemp -d)
server_pid= agent_pid= installed=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
  # A failed run leaves nothing installed for the next one.
  [ -n "$installed" ] && wine msiexec /x "$(winepath -w "$tmp/install.msi")" /qn >/dev/null 2>&1
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  wineserver -k 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test-msi: FAIL: $*" >&2; exit 1; }
step() { printf 'test-msi: %s\n' "$*"; }

if [ -z "$msi" ]; then
  step "building the agent, the server and the x64 MSI"
  # With ci-wine.sh's stdlib overlay: without it os.RemoveAll fails under
  # Wine < 9, and uninstall could not remove the metrics buffer directory.
  overlay=$("$here/goroot-overlay/make-overlay.sh" "$work/overlay")
  CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -overlay "$overlay" -trimpath -tags nethttpomithttp2 -ldflags "-s -w" -o "$tmp/steward-agent.exe" ./cmd/steward-agent
  go build -o "$tmp/steward-package" ./cmd/steward-package
  "$tmp/steward-package" msi --exe "$tmp/steward-agent.exe" --arch x64 --version v0.0.1 --out "$tmp/steward-agent.msi" >/dev/null
  # The same binary as a newer version, for the upgrade.
  "$tmp/steward-package" msi --exe "$tmp/steward-agent.exe" --arch x64 --version v0.0.2 --out "$tmp/upgrade.msi" >/dev/null
  msi=$tmp/steward-agent.msi
else
  step "building the server"
fi
CGO_ENABLED=0 go build -trimpath -o "$tmp/steward" ./cmd/steward

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
"$tmp/steward" serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.3; done
curl -fs "$url/healthz" >/dev/null || { cat "$tmp/server.log" >&2; fail "server did not start"; }
echo 'msi-test-password-1' | "$tmp/steward" user create --data-dir "$tmp/data" --email msi@example.com --role owner --password-stdin >/dev/null
api_token=$("$tmp/steward" user api-token --data-dir "$tmp/data" --email msi@example.com --name msi 2>/dev/null)
api() { curl -fsS -H "Authorization: Bearer $api_token" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
client=$(api -d '{"name":"MSI"}' "$url/api/v1/clients" | field id)
site=$(api -d '{"name":"Wine"}' "$url/api/v1/clients/$client/sites" | field id)
new_token() { api -d '{"expires_in":"1h","max_uses":1}' "$url/api/v1/sites/$site/enrollment-tokens" | field token; }
token=$(new_token)
# online_ids lists the agents online on the server.
online_ids() { api "$url/api/v1/agents?status=online" | python3 -c 'import json,sys; print(" ".join(a["id"] for a in json.load(sys.stdin)["items"]))'; }
# wait_online waits until one agent other than $1 is online and prints its ID.
wait_online() {
  local ids
  for _ in $(seq 1 200); do
    ids=$(online_ids)
    if [ -n "$ids" ] && [ "$ids" != "${1:-}" ]; then echo "$ids"; return 0; fi
    sleep 0.3
  done
  return 1
}

wineserver -p
# STEWARD_MSI_TRACE=1 keeps services.exe's trace (WINEDEBUG=+service, the
# process that boots it passes its stderr on) in $work/services.trace, to
# see what the service manager did when a step fails.
if [ "${STEWARD_MSI_TRACE:-0}" = 1 ]; then
  WINEDEBUG=+service wine cmd /c exit 0 >/dev/null 2>"$work/services.trace"
else
  wine cmd /c exit 0 >/dev/null 2>&1
fi
pf=$WINEPREFIX/drive_c/"Program Files"/Steward
cfg=$WINEPREFIX/drive_c/ProgramData/Steward/agent.json
rm -f "$cfg"   # a previous run's enrollment would make install refuse

# products lists the installed Steward Agent MSI products as "ProductCode
# version" (not the agent's own entry, StewardAgent).
products() {
  wine reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s 2>/dev/null | tr -d '\r' |
    awk '/^HKEY/ {key=$0} /DisplayName/ && /Steward Agent/ {name[key]=1} /DisplayVersion/ {ver[key]=$NF}
         END {for (k in name) {n=split(k, p, "\\"); print p[n], ver[k]}}' | grep '^{' || true
}
svc_state() { wine sc query "$1" 2>/dev/null | tr -d '\r' | grep -i STATE || echo "not installed"; }
msiexec_i() { wine msiexec /i "$(winepath -w "$tmp/install.msi")" /qn /l*v "$(winepath -w "$tmp/$1.log")" "${@:2}"; }
# nothing_installed fails unless the machine holds no product, binary,
# service or enrollment ($1 says after what).
nothing_installed() {
  [ -z "$(products)" ] || fail "after $1 the MSI is still registered: $(products)"
  [ ! -e "$pf/steward-agent.exe" ] || fail "after $1 steward-agent.exe is still in Program Files"
  [ ! -e "$cfg" ] || fail "after $1 the config is still there"
  for s in StewardAgent StewardWatchdog; do
    case "$(svc_state $s)" in "not installed") ;; *) fail "after $1 service $s is still there: $(svc_state $s)" ;; esac
  done
}

cp "$msi" "$tmp/install.msi"
step "wine msiexec /i without SERVER and TOKEN is refused"
if wine msiexec /i "$(winepath -w "$tmp/install.msi")" /qn >/dev/null 2>&1; then
  installed=1
  fail "msiexec /i without SERVER and TOKEN succeeded"
fi
[ ! -e "$pf/steward-agent.exe" ] || fail "a refused install left steward-agent.exe behind"

step "wine msiexec /i with a bad TOKEN fails and rolls back"
if msiexec_i badtoken SERVER="$url" TOKEN=ste_not_a_token; then
  installed=1
  fail "msiexec /i with a bad token succeeded"
fi
# The rollback action ran: after AgentInstall failed (Return value 0 in
# wine's log), AgentInstallRollback starts again, now from the rollback script.
tr -d '\0\r' <"$tmp/badtoken.log" | awk '/AgentInstall\. Return value 0/ {failed=1} failed && /Action start .*AgentInstallRollback\./ {ran=1} END {exit !ran}' ||
  fail "AgentInstallRollback did not run after the failed install action"
nothing_installed "a failed install"

flags=()
[ "$noservice" = 1 ] && flags=(INSTALLFLAGS=--no-service)
step "wine msiexec /i (SERVER=$url${flags:+ ${flags[*]}})"
start=$(date +%s.%N)
installed=1
wine msiexec /i "$(winepath -w "$tmp/install.msi")" /qn /l*v "$(winepath -w "$tmp/install.log")" \
  SERVER="$url" TOKEN="$token" "${flags[@]}" || fail "msiexec /i exited $? (log: $(tail -20 "$tmp/install.log" | tr -d '\r'))"
[ -f "$pf/steward-agent.exe" ] || fail "Program Files\\Steward\\steward-agent.exe was not installed"
[ -f "$cfg" ] || fail "the install custom action did not enroll (no $cfg)"
# Wine's msiexec ends its log with every property, MsiHiddenProperties or
# not (Windows writes TOKEN = **********, docs/installers.md): outside that
# dump, the token must appear nowhere, in particular not in the custom
# action's command line.
if tr -d '\r' <"$tmp/install.log" | grep -vE '^Property\([SC]\): TOKEN = ' | grep -qaF "$token"; then
  fail "the enrollment token is in the msiexec log in clear: $(grep -naF "$token" "$tmp/install.log" | head -3)"
fi

if [ "$noservice" = 1 ]; then
  step "running the agent (INSTALLFLAGS=--no-service: no service registered)"
  wine "$pf/steward-agent.exe" run >"$tmp/agent.log" 2>&1 &
  agent_pid=$!
fi
online=
for _ in $(seq 1 200); do
  if api "$url/api/v1/agents?online=true" | grep -q '"total":1'; then online=1; break; fi
  sleep 0.3
done
[ -n "$online" ] || { cat "$tmp/agent.log" 2>/dev/null >&2 || true; fail "the agent did not come online"; }
step "agent online $(python3 -c "print(round($(date +%s.%N) - $start, 1))")s after msiexec /i started"

if [ "$noservice" = 0 ]; then
  # The agent keeps its watchdog: delete the watchdog service and the
  # agent registers it again (that role only) and starts it at its first
  # keeper pass, a minute after it started. The agent's own service, edited
  # by hand here, must stay as it is (the keeper once rewrote it). At that
  # pass the agent also points the one Apps & features entry, its own, at
  # msiexec /X of the product (registered by Windows Installer only after
  # the install action ran); the MSI's own entry is hidden.
  wine sc stop StewardWatchdog >/dev/null 2>&1 || fail "sc stop StewardWatchdog failed"
  wine sc delete StewardWatchdog >/dev/null 2>&1 || fail "sc delete StewardWatchdog failed"
  agentkey='HKLM\SYSTEM\CurrentControlSet\Services\StewardAgent'
  wine reg add "$agentkey" /v DisplayName /t REG_SZ /d 'Steward Agent (edited)' /f >/dev/null 2>&1 || fail "cannot edit the agent service"
  step "deleted the watchdog service, edited the agent service's display name"
  key='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\StewardAgent'
  entry= wd=
  for _ in $(seq 1 150); do
    entry=$(wine reg query "$key" /v UninstallString 2>/dev/null | tr -d '\r' | grep -i UninstallString || true)
    wd=$(svc_state StewardWatchdog)
    case "$entry" in *[Mm]si[Ee]xec*/X\{*) case "$wd" in *RUNNING*) break ;; esac ;; esac
    sleep 1
  done
  case "$wd" in *RUNNING*) ;; *) fail "the agent did not register and start its deleted watchdog service again: $wd" ;; esac
  step "the agent registered its watchdog service again and started it"
  shown=$(wine reg query "$agentkey" /v DisplayName 2>/dev/null | tr -d '\r' | grep -i DisplayName || true)
  case "$shown" in *"(edited)"*) ;; *) fail "the keeper rewrote the agent's own service: DisplayName is now $shown" ;; esac
  step "the agent's own service was left as edited"
  # Back as install sets it: wine has no ChangeServiceConfig, so the next
  # install could not put it back itself and would fail.
  wine reg add "$agentkey" /v DisplayName /t REG_SZ /d 'Steward Agent' /f >/dev/null 2>&1 || fail "cannot restore the agent service"
  case "$entry" in *[Mm]si[Ee]xec*/X\{*) ;; *) fail "the agent's Apps & features entry does not uninstall through msiexec: $entry" ;; esac
  step "Apps & features: ${entry##*REG_SZ}"
fi

if [ -n "$agent_pid" ]; then
  kill "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=
fi

if [ "$noservice" = 0 ]; then
  first=$(online_ids)
  step "wine msiexec /i of the same MSI again (maintenance mode; the token is spent)"
  msiexec_i again SERVER="$url" TOKEN="$token" || fail "installing twice exited $? (log: $(tail -20 "$tmp/again.log" | tr -d '\r'))"
  [ "$(products | grep -c .)" = 1 ] || fail "after installing twice the products are: $(products)"
  case "$(svc_state StewardAgent)" in *RUNNING*) ;; *) fail "after installing twice the agent service is $(svc_state StewardAgent)" ;; esac
  [ "$(wait_online)" = "$first" ] || fail "after installing twice the agents online are $(online_ids), want $first"
  step "installed twice: still agent $first, one product"

  step "steward-agent uninstall by hand hands over to msiexec /x"
  start=$(date +%s.%N)
  wine "$pf/steward-agent.exe" uninstall >"$tmp/cli-uninstall.log" 2>&1 || fail "steward-agent uninstall exited $?: $(tr -d '\r' <"$tmp/cli-uninstall.log")"
  sed 's/^/    /' "$tmp/cli-uninstall.log" | tr -d '\r'
  grep -q "Windows Installer removed product" "$tmp/cli-uninstall.log" || fail "uninstall did not hand over to Windows Installer"
  installed=
  nothing_installed "steward-agent uninstall"
  [ -z "$(online_ids)" ] || fail "after steward-agent uninstall the agents online are $(online_ids)"
  [ "$(api "$url/api/v1/agents?status=uninstalled" | field total)" = 1 ] || fail "the server does not show the agent as uninstalled"
  step "uninstalled by hand in $(python3 -c "print(round($(date +%s.%N) - $start, 1))")s: no product, file, service or config left; the server shows it uninstalled"

  step "wine msiexec /i again after the uninstall by hand"
  token=$(new_token)
  installed=1
  msiexec_i reinstall SERVER="$url" TOKEN="$token" || fail "the install after the uninstall by hand exited $? (log: $(tail -20 "$tmp/reinstall.log" | tr -d '\r'))"
  second=$(wait_online "") || fail "the agent did not come online after installing again"
  step "online again as agent $second"

  step "the agent removed behind the MSI's back (steward-agent uninstall --from-msi by hand)"
  wine "$pf/steward-agent.exe" uninstall --from-msi >"$tmp/behind.log" 2>&1 || fail "uninstall --from-msi exited $?: $(tr -d '\r' <"$tmp/behind.log")"
  [ "$(products | grep -c .)" = 1 ] || fail "the product should still be registered: $(products)"
  [ ! -e "$cfg" ] || fail "uninstall --from-msi left the config"
  if msiexec_i notoken; then fail "msiexec /i without a token succeeded with no agent installed"; fi
  step "msiexec /i without SERVER and TOKEN refused: the product is registered but no agent is installed"
  token=$(new_token)
  msiexec_i repair SERVER="$url" TOKEN="$token" || fail "msiexec /i over the registered product exited $? (log: $(tail -20 "$tmp/repair.log" | tr -d '\r'))"
  third=$(wait_online "") || fail "the agent did not come online after msiexec /i over the registered product"
  [ -f "$cfg" ] || fail "no config after msiexec /i over the registered product"
  step "msiexec /i over the registered product enrolled again: agent $third online"

  step "both services deleted by hand; wine msiexec /i without SERVER and TOKEN repairs them"
  wine sc stop StewardWatchdog >/dev/null 2>&1 || true
  wine sc stop StewardAgent >/dev/null 2>&1 || true
  wine sc delete StewardWatchdog >/dev/null 2>&1 || fail "sc delete StewardWatchdog failed"
  wine sc delete StewardAgent >/dev/null 2>&1 || fail "sc delete StewardAgent failed"
  for s in StewardAgent StewardWatchdog; do
    case "$(svc_state $s)" in "not installed") ;; *) fail "service $s is still there after sc delete: $(svc_state $s)" ;; esac
  done
  # Wine passes the custom action's output on to msiexec's.
  msiexec_i repairnotoken >"$tmp/repairnotoken.out" 2>&1 ||
    fail "msiexec /i without a token over the installed agent exited $? (log: $(tail -20 "$tmp/repairnotoken.log" | tr -d '\r'))"
  tr -d '\r' <"$tmp/repairnotoken.out" | sed 's/^/    /'
  cat "$tmp/repairnotoken.out" "$tmp/repairnotoken.log" | tr -d '\0\r' | grep -q "No enrollment token given: keeping agent $third" ||
    fail "the repair did not run install without a token (log: $(tr -d '\0\r' <"$tmp/repairnotoken.log" | grep -i -A3 AgentRepair | head -20))"
  for s in StewardAgent StewardWatchdog; do
    case "$(svc_state $s)" in *RUNNING*) ;; *) fail "after the repair service $s is $(svc_state $s)" ;; esac
  done
  [ "$(wait_online)" = "$third" ] || fail "after the repair the agents online are $(online_ids), want $third"
  step "repaired without a token: both services registered and running, still agent $third"
fi
if [ -f "$tmp/upgrade.msi" ]; then
  step "wine msiexec /i of a newer version, without SERVER and TOKEN (major upgrade)"
  before=$(products)
  wine msiexec /i "$(winepath -w "$tmp/upgrade.msi")" /qn /l*v "$(winepath -w "$tmp/upgrade.log")" \
    || fail "the upgrade exited $? (log: $(tail -20 "$tmp/upgrade.log" | tr -d '\r'))"
  after=$(products)
  [ "$(printf '%s\n' "$after" | grep -c .)" = 1 ] || fail "after the upgrade the installed products are: $after (before: $before)"
  case "$after" in *" 0.0.2") ;; *) fail "after the upgrade the installed product is $after, want version 0.0.2" ;; esac
  # Not checked here: that the old version's `steward-agent uninstall` is
  # skipped during the upgrade. Wine's RemoveExistingProducts runs
  # `msiexec /qn /i {code} REMOVE=ALL` without UPGRADINGPRODUCTCODE (its
  # msi.dll has no such string), so under wine the uninstall runs; Windows
  # sets it, and the condition is read back from the MSI by TestBuildMSI.
  [ -f "$pf/steward-agent.exe" ] || fail "the upgrade left no steward-agent.exe"
  cp "$tmp/upgrade.msi" "$tmp/install.msi"   # what is installed now, for /x
  step "upgraded: $before -> $after"
  if [ -f "$cfg" ]; then
    step "the upgrade kept the enrollment"
  else
    step "wine: the upgrade ran the old version's uninstall (no UPGRADINGPRODUCTCODE), so the enrollment is gone; Windows keeps it"
  fi
fi

step "wine msiexec /x"
start=$(date +%s.%N)
wine msiexec /x "$(winepath -w "$tmp/install.msi")" /qn /l*v "$(winepath -w "$tmp/uninstall.log")" \
  || fail "msiexec /x exited $? (log: $(tail -20 "$tmp/uninstall.log" | tr -d '\r'))"
installed=
nothing_installed "msiexec /x"
step "uninstalled in $(python3 -c "print(round($(date +%s.%N) - $start, 1))")s; no product, file, service or config left"
step "PASS"
