#!/bin/bash
# make test-scale: the packages behind Debian's nginx in a booted Debian 12 container. Installs
# dist/*.deb and nginx-light, then tests/scale/run.py --systemd drives three instances of the
# template unit findface-extraction-api@NAME on 127.0.0.2, .3 and .4 (standing in for three
# hosts; ports free on the host) and the container's nginx.service with the site file from
# /usr/share/doc/findface-extraction-api/examples/, through `nsenter` into the container, while
# clients on the host (the container shares its network) keep up a steady load: every instance
# gets traffic; `systemctl stop` of one and `systemctl kill -s KILL` of another, then both
# started again; a rolling restart of all three; throughput balanced vs one instance alone;
# the facenapi plugin through the balancer. 0 failed requests. Figures in build/test-scale.json.
#
# Skips (exit 0, one "SKIP:" line) where the machine cannot (not root, no Debian mirror, no
# systemd-nspawn); TEST_SCALE_REQUIRED=1 turns a skip into a failure. The debootstrap root is
# cached in $TEST_DEB_CACHE (default /var/cache/findface-extraction-api-test-scale, apart from
# make test-deb's, so that both may run at once). Extra arguments go to the driver
# (--clients N, --measure SECONDS, --rounds N).
set -euo pipefail
cd "$(dirname "$0")/.."
TEST=test-scale
WORK=$(pwd)/build/test-scale-deb
CACHE=${TEST_DEB_CACHE:-/var/cache/findface-extraction-api-test-scale}
INCLUDE=nginx-light
REQUIRED=${TEST_SCALE_REQUIRED:-0}
# shellcheck source=packaging/container.sh
. packaging/container.sh

container_preflight
[ -x .venv/bin/python ] || make venv  # the driver and its clients run on the host
container_packages
container_rootfs
# Debian's nginx enables a default site on port 80 of every address; the container shares the
# host's network, so it goes before the boot: nginx then listens only where the test's site says.
rm -f "$ROOT/etc/nginx/sites-enabled/default"
mkdir -p "$ROOT/root/debs"
cp "$API_DEB" "$DATA_DEB" "$ROOT/root/debs/"
container_boot
trap 'say "FAIL: line $LINENO: $BASH_COMMAND"' ERR

say "apt-get install ./findface-data_*.deb ./findface-extraction-api_*.deb (dependencies from $MIRROR)"
ct 'apt-get update -qq && cd /root/debs && apt-get install -y -q ./findface-data_*.deb ./findface-extraction-api_*.deb' \
    > "$WORK/apt-install.log" 2>&1 || { tail -30 "$WORK/apt-install.log"; fail "apt-get install failed"; }
example=/usr/share/doc/findface-extraction-api/examples/findface-extraction-api.conf
ct "dpkg -L findface-extraction-api | grep -qx '$example'" || fail "the package does not ship $example"
say "installed; the package ships $example; $(ct 'nginx -v 2>&1'), nginx.service $(ct 'systemctl is-active nginx' || true)"

.venv/bin/python tests/scale/run.py --systemd "nsenter -t $CPID -a $CT_ENV" "$@"

# nginx (still running) listens on loopback only: the default site on port 80 of every address is gone
listens=$(ss -Htlnp | grep '"nginx"' | awk '{print $4}' | sort -u | tr '\n' ' ')
[ -n "$listens" ] || fail "no nginx listening socket found"
for a in $listens; do case "$a" in 127.*) ;; *) fail "nginx listens on $a" ;; esac; done
say "nginx listened on: $listens"
container_shutdown
say "container powered off"
