#!/usr/bin/env bash
# check-monitoring.sh validates the SmartCloudOps monitoring assets with promtool (and amtool
# when present): the Prometheus configuration, the alert rules, and the alert rule unit tests in
# monitoring/tests/.
#
# promtool comes with Debian's `prometheus` package. When it is missing and the script runs as
# root, it installs that package with apt-get (after `apt-get update`), keeping the packaged
# service from starting; otherwise it says so and exits 0 without checking, so that a developer
# machine without promtool is not blocked. Set CHECK_MONITORING_REQUIRE=1 to turn the skip into
# a failure (CI does), and to require amtool as well.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mon="$root/monitoring"

log() { printf 'check-monitoring: %s\n' "$*" >&2; }

find_tool() {
	local name="$1"
	if command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
	elif [ -x "/usr/bin/$name" ]; then
		echo "/usr/bin/$name"
	fi
}

install_prometheus() {
	if ! command -v apt-get >/dev/null 2>&1; then
		log "promtool not found and apt-get is not available"
		return 1
	fi
	log "promtool not found; installing Debian's prometheus package"
	# A policy-rc.d answering 101 keeps the package from starting its service during the install.
	local policy=/usr/sbin/policy-rc.d created=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		created=1
	fi
	local rc=0
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold prometheus
	} || rc=$?
	if [ "$created" -eq 1 ]; then
		rm -f "$policy"
	fi
	# If a service started anyway, stop it so port 9090 stays free.
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl stop prometheus >/dev/null 2>&1 || true
		systemctl disable prometheus >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1 && [ -x /etc/init.d/prometheus ]; then
		service prometheus stop >/dev/null 2>&1 || true
	fi
	return "$rc"
}

promtool="$(find_tool promtool)"
if [ -z "$promtool" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		install_prometheus
		promtool="$(find_tool promtool)"
	fi
fi
if [ -z "$promtool" ]; then
	if [ "${CHECK_MONITORING_REQUIRE:-0}" = "1" ]; then
		log "promtool is required but not installed (apt-get install prometheus, as root)"
		exit 1
	fi
	log "SKIPPED: promtool is not installed and this is not root; install Debian's prometheus package to run these checks"
	exit 0
fi

log "using $("$promtool" --version 2>&1 | head -n1)"

log "promtool check config monitoring/prometheus.yml"
"$promtool" check config "$mon/prometheus.yml"

log "promtool check rules monitoring/prometheus-alerts.yml"
"$promtool" check rules "$mon/prometheus-alerts.yml"

shopt -s nullglob
tests=("$mon"/tests/*.yml)
if [ "${#tests[@]}" -eq 0 ]; then
	log "no rule unit tests found in monitoring/tests"
	exit 1
fi
log "promtool test rules monitoring/tests/*.yml"
# promtool resolves rule_files relative to each test file.
"$promtool" test rules "${tests[@]}"

amtool="$(find_tool amtool)"
if [ -n "$amtool" ]; then
	log "amtool check-config monitoring/alertmanager.yml"
	"$amtool" check-config "$mon/alertmanager.yml"
elif [ "${CHECK_MONITORING_REQUIRE:-0}" = "1" ]; then
	log "amtool is required but not installed (Debian's prometheus-alertmanager provides it; scripts/install-test-deps.sh installs it)"
	exit 1
else
	log "amtool not installed; monitoring/alertmanager.yml not checked (Debian's prometheus-alertmanager provides it)"
fi

log "all monitoring checks passed"
