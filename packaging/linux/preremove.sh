#!/bin/sh
# Installed by the steward-agent package: stop the services before the
# binary goes away. Only on removal: an upgrade restarts them afterwards.
set -e

case "$1" in
	upgrade|1) exit 0 ;; # deb upgrade, or rpm with one version left after
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	for unit in steward-agent-watchdog.service steward-agent.service; do
		if systemctl is-active --quiet "$unit" 2>/dev/null; then
			systemctl stop "$unit" || true
		fi
		systemctl disable "$unit" >/dev/null 2>&1 || true
	done
fi
exit 0
