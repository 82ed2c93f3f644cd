#!/usr/bin/env bash
# install-test-deps.sh installs the real servers and tools the SmartCloudOps tests use beyond Go:
# Debian's prometheus (with promtool), prometheus-node-exporter and prometheus-alertmanager (with
# amtool), which the integration tests (`go test -tags integration`) and the scenario suite
# (`make scenarios`) start; etcd-server, for the etcd store's tests; stress-ng, the CPU hog the
# scenarios are run beside, and wrk, the HTTP load generator of the load harness; and gcc, which
# the race detector of `make test` needs.
#
# It is idempotent: when every binary is already present it does nothing, and it runs
# `apt-get update` only when something has to be installed. It runs non-interactively, as root
# directly or through sudo otherwise. The tests start their own instances on free loopback ports,
# so the Debian services must not run: a policy-rc.d keeps the packages from starting them during
# the install, and afterwards any unit that did start is stopped and disabled where systemd exists.
set -euo pipefail

# binary:package, one binary each that the tests look for.
wanted=(
	prometheus:prometheus
	promtool:prometheus
	prometheus-node-exporter:prometheus-node-exporter
	prometheus-alertmanager:prometheus-alertmanager
	amtool:prometheus-alertmanager
	etcd:etcd-server
	stress-ng:stress-ng
	wrk:wrk
	gcc:gcc # the tests run with -race, which needs cgo
)
binaries=()
for w in "${wanted[@]}"; do binaries+=("${w%%:*}"); done
# Services the packages ship; none may keep the default ports the tests' own instances avoid.
services=(prometheus prometheus-node-exporter prometheus-alertmanager etcd)

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

missing=()
for w in "${wanted[@]}"; do
	bin=${w%%:*} pkg=${w#*:}
	if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/bin/$bin" ]; then
		case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	log "all present: ${binaries[*]}"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=()
elif command -v sudo >/dev/null 2>&1; then
	# -n never waits for a password where nobody can type one (CI); a terminal may be asked.
	if [ -t 0 ]; then SUDO=(sudo); else SUDO=(sudo -n); fi
else
	log "not root and sudo is not available; run as root to install ${missing[*]}"
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	log "apt-get not found; install ${missing[*]} by hand"
	exit 1
fi

# A policy-rc.d that answers 101 ("action forbidden") stops invoke-rc.d and deb-systemd-invoke
# from starting the services the packages ship. Ours is removed again on exit; one that was
# already there is left alone.
policy=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
	if [ "$created_policy" -eq 1 ]; then
		"${SUDO[@]}" rm -f "$policy"
	fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
	"${SUDO[@]}" chmod 0755 "$policy"
	created_policy=1
fi

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

# Belt and braces: if a service started anyway (a policy-rc.d that was already there allowed it),
# stop it, and keep every one of them from starting at boot, so their default ports stay free.
# `systemctl disable` edits the unit links even when systemd is not running (containers).
for svc in "${services[@]}"; do
	if command -v systemctl >/dev/null 2>&1; then
		if [ -d /run/systemd/system ]; then
			"${SUDO[@]}" systemctl stop "$svc" >/dev/null 2>&1 || true
		fi
		"${SUDO[@]}" systemctl disable "$svc" >/dev/null 2>&1 || true
	fi
	"${SUDO[@]}" rm -f "/etc/systemd/system/multi-user.target.wants/$svc.service"
	if [ -x "/etc/init.d/$svc" ]; then
		if [ ! -d /run/systemd/system ] && command -v service >/dev/null 2>&1; then
			"${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
		fi
		if command -v update-rc.d >/dev/null 2>&1; then
			"${SUDO[@]}" update-rc.d "$svc" disable >/dev/null 2>&1 || true
		fi
	fi
done

for b in "${binaries[@]}"; do
	if ! command -v "$b" >/dev/null 2>&1 && [ ! -x "/usr/bin/$b" ]; then
		log "$b still missing after install"
		exit 1
	fi
done
log "installed: ${missing[*]}"
