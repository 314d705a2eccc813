#!/bin/sh
# Installed by the steward-agent package. The package carries no
# enrollment token, so it does not enroll: it tells the administrator how.
# An upgrade of an enrolled machine restarts the running services instead.
set -e

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi

if [ -f /etc/steward-agent/agent.json ]; then
	# Enrolled already (an upgrade): restart what was running on the new binary.
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		for unit in steward-agent.service steward-agent-watchdog.service; do
			if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
				systemctl try-restart "$unit" >/dev/null 2>&1 || true
			fi
		done
	fi
	exit 0
fi

cat <<'MSG'
steward-agent is installed but not enrolled. Enroll this machine and start
its services with the command from the Steward dashboard (Clients > site >
New enrollment token):

    run: steward-agent install --server URL --token TOKEN

MSG
exit 0
