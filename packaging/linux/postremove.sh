#!/bin/sh
# Installed by the steward-agent package. The enrollment in
# /etc/steward-agent stays (like a conffile) unless the package is purged;
# `steward-agent uninstall`, run before removing the package, also tells
# the server.
set -e

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi

if [ "$1" = purge ]; then
	rm -rf /etc/steward-agent
fi
exit 0
