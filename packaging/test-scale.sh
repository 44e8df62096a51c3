#!/bin/bash
# make test-scale-host: three daemons from this checkout on 127.0.0.2, .3 and .4 (standing in for
# three hosts) behind Debian's nginx with the shipped deploy/nginx/findface-extraction-api.conf,
# under steady concurrent load: every instance gets traffic, one is stopped (SIGTERM) and
# another killed (SIGKILL) and both started again, then all three are restarted in turn, with
# 0 failed client requests; the balanced throughput against one instance alone; the facenapi
# plugin through the balancer. The driver is tests/scale/run.py; figures in build/test-scale.json.
# make test-scale runs the same driver on the installed packages in a booted container
# (packaging/test-scale-deb.sh); this one needs no root where nginx is installed.
#
# Installs nginx-light from the Debian mirror when nginx is missing (root or sudo), without
# starting Debian's nginx service (its default site listens on port 80 of every address).
# Skips (exit 0, one "SKIP:" line) when nginx cannot be had; TEST_SCALE_REQUIRED=1 turns a skip
# into a failure. About 1.5 minutes on 2 cores; extra arguments go to the driver
# (--clients N, --measure SECONDS).
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
    echo "SKIP: make test-scale-host: $*"
    [ "${TEST_SCALE_REQUIRED:-0}" = 1 ] && exit 1
    exit 0
}

[ -x .venv/bin/python ] && [ -r build/models/manifest.json ] \
    || { echo "test-scale: no .venv or build/models: run \`make models\` first"; exit 1; }

if ! command -v nginx >/dev/null; then
    if [ "$(id -u)" = 0 ]; then as_root=; elif sudo -n true 2>/dev/null; then as_root=sudo; else
        skip "nginx is not installed, and installing it needs root or sudo (apt-get install nginx-light)"
    fi
    command -v apt-get >/dev/null || skip "nginx is not installed and this is not a Debian system (no apt-get)"
    echo "test-scale: installing nginx-light (Debian's nginx), service not started"
    # policy-rc.d exit 101 = "do not start services" while the package installs, as in Debian's
    # own chroots; removed afterwards unless it was there before.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $as_root tee /usr/sbin/policy-rc.d >/dev/null
        $as_root chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    install_nginx() {
        $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light >/dev/null
    }
    install_nginx || { $as_root apt-get update -qq >/dev/null && install_nginx; } || status=$?
    if [ -n "$own_policy" ]; then $as_root rm -f /usr/sbin/policy-rc.d; fi
    [ "${status:-0}" = 0 ] && command -v nginx >/dev/null || skip "cannot install nginx-light from the Debian mirror"
fi

exec .venv/bin/python tests/scale/run.py "$@"
