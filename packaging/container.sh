# Sourced by the install tests that need a booted Debian 12 container (packaging/test-deb.sh,
# packaging/test-scale-deb.sh): the checks that skip where the machine cannot, the packages
# (rebuilt when a source file is newer), a debootstrap root cached between runs, the boot with
# systemd-nspawn and `ct` to run commands inside.
#
# The caller sets, before sourcing (it is in the repository root):
#   TEST      name in messages, e.g. test-scale
#   WORK      its work directory (build/$TEST); the container's root is $WORK/root
#   CACHE     the debootstrap cache; a test that may run at the same time as another gets its
#             own (two debootstraps into one cache collide)
#   INCLUDE   extra packages for debootstrap's --include (comma-separated, may be empty)
#   REQUIRED  1 turns a skip into a failure
# The container shares the host's network (no --private-network): a test uses addresses and
# ports that are free on the host, loopback only.

MIRROR=${TEST_DEB_MIRROR:-http://deb.debian.org/debian}
ROOT=$WORK/root
DEBOOTSTRAP_ARGS="--variant=minbase --include=systemd,systemd-sysv,dbus,curl,ca-certificates${INCLUDE:+,$INCLUDE} bookworm"
T0=$(date +%s)
NSPAWN=
CPID=

say() { printf '[%s %3ds] %s\n' "$TEST" "$(( $(date +%s) - T0 ))" "$*"; }
skip() {
    echo "SKIP: make $TEST: $*"
    [ "${REQUIRED:-0}" = 1 ] && exit 1
    exit 0
}
fail() { say "FAIL: $*"; exit 1; }

# Skips (exit 0) unless this is a Debian-based Linux, as root, with the mirror reachable;
# installs debootstrap, systemd-container and util-linux when missing.
container_preflight() {
    [ "$(uname -s)" = Linux ] || skip "needs Linux"
    [ "$(id -u)" = 0 ] || skip "needs root (debootstrap, systemd-nspawn, nsenter)"
    [ -r /etc/debian_version ] && command -v apt-get >/dev/null || skip "needs a Debian-based host (apt-get)"
    command -v curl >/dev/null || skip "needs curl on the host"
    curl -fsS -o /dev/null --max-time 15 "$MIRROR/dists/bookworm/Release" \
        || skip "no network access to the Debian mirror $MIRROR"
    local need=
    command -v debootstrap >/dev/null || need="$need debootstrap"
    command -v systemd-nspawn >/dev/null || need="$need systemd-container"
    command -v nsenter >/dev/null || need="$need util-linux"
    if [ -n "$need" ]; then
        say "installing$need"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need >/dev/null \
            || skip "cannot install$need"
    fi
    [ -d /sys/fs/cgroup ] || skip "no cgroup file system (systemd-nspawn -b needs one)"
}

# Sets API_DEB, DATA_DEB and LIVE_DEB (empty when dist/ has no findface-data-liveness), running
# `make deb` when they are missing or a tracked or new file is newer (TEST_DEB_NO_BUILD=1: the
# .deb files in dist/ as they are). LIVENESS_PACK=DIR: findface-data-liveness too, built from
# that pack (make deb LIVENESS_PACK=DIR).
container_packages() {
    local version
    version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' findface_extraction_api/__init__.py)
    API_DEB=$(ls dist/findface-extraction-api_"$version"_*.deb 2>/dev/null | head -1 || true)
    DATA_DEB=$(ls dist/findface-data_"$version"_all.deb 2>/dev/null | head -1 || true)
    LIVE_DEB=$(ls dist/findface-data-liveness_"$version"_all.deb 2>/dev/null | head -1 || true)
    if [ -z "$API_DEB" ] || [ -z "$DATA_DEB" ] || { [ -n "${LIVENESS_PACK:-}" ] && [ -z "$LIVE_DEB" ]; } \
       || { [ "${TEST_DEB_NO_BUILD:-0}" != 1 ] \
       && [ -n "$(git ls-files -z -co --exclude-standard | xargs -0 -r sh -c 'find "$@" -maxdepth 0 -newer '"$API_DEB"' 2>/dev/null' sh | head -1)" ]; }; then
        say "building the packages (make deb)"
        make deb
        API_DEB=$(ls dist/findface-extraction-api_"$version"_*.deb | head -1)
        DATA_DEB=$(ls dist/findface-data_"$version"_all.deb | head -1)
        LIVE_DEB=$(ls dist/findface-data-liveness_"$version"_all.deb 2>/dev/null | head -1 || true)
    fi
    say "packages: $API_DEB ($(du -k "$API_DEB" | cut -f1) KiB), $DATA_DEB ($(du -k "$DATA_DEB" | cut -f1) KiB)"
}

# A fresh copy of the cached debootstrap root in $ROOT (debootstrap when the cache is missing
# or was made with other arguments).
container_rootfs() {
    mkdir -p "$CACHE" "$WORK"
    if [ "$(cat "$CACHE/rootfs.stamp" 2>/dev/null)" != "$DEBOOTSTRAP_ARGS $MIRROR" ]; then
        say "debootstrap $DEBOOTSTRAP_ARGS (cached in $CACHE)"
        rm -rf "$CACHE/rootfs" "$CACHE/rootfs.tmp" "$CACHE/rootfs.stamp"
        # shellcheck disable=SC2086
        debootstrap $DEBOOTSTRAP_ARGS "$CACHE/rootfs.tmp" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
            || { tail -5 "$CACHE/debootstrap.log"; fail "debootstrap failed (log: $CACHE/debootstrap.log)"; }
        mv "$CACHE/rootfs.tmp" "$CACHE/rootfs"
        echo "$DEBOOTSTRAP_ARGS $MIRROR" > "$CACHE/rootfs.stamp"
    fi
    rm -rf "$ROOT"
    cp -a --reflink=auto "$CACHE/rootfs" "$ROOT"
}

container_shutdown() {
    [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null || return 0
    [ -n "$CPID" ] && nsenter -t "$CPID" -a systemctl poweroff >/dev/null 2>&1 || true
    for _ in $(seq 60); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$NSPAWN" 2>/dev/null; then
        say "container did not power off within 30 s: terminating systemd-nspawn ($NSPAWN)"
        kill "$NSPAWN" 2>/dev/null || true
        wait "$NSPAWN" 2>/dev/null || true
    fi
}

container_on_exit() {
    local rc=$?
    container_shutdown
    if [ "$rc" = 0 ]; then rm -rf "$ROOT"; else say "left for inspection: $ROOT, boot log $WORK/boot.log"; fi
    say "total $(( $(date +%s) - T0 )) s, $( [ "$rc" = 0 ] && echo PASSED || echo FAILED)"
}

# The container's init as the host sees it: the child of systemd-nspawn that runs systemd.
container_init() {
    ps -o pid=,comm= --ppid "$NSPAWN" 2>/dev/null | awk '$2 == "systemd" || $2 == "init" { print $1; exit }' || true
}

# Boots $ROOT (systemd-nspawn -b, the host's network) and waits for its systemd; sets CPID, the
# container's init as the host sees it, for `ct` and `nsenter -t $CPID -a`. Powers it off on exit.
container_boot() {
    trap container_on_exit EXIT
    # Mounts a container does not need: one CI boot hung for 240 s right after starting them
    for unit in dev-hugepages.mount sys-fs-fuse-connections.mount; do
        ln -sfn /dev/null "$ROOT/etc/systemd/system/$unit"
    done
    say "booting the container (systemd-nspawn -D $ROOT -b --register=no --keep-unit)"
    systemd-nspawn -D "$ROOT" -b --register=no --keep-unit --console=passive \
        --machine="ffea-$TEST-$$" < /dev/null > "$WORK/boot.log" 2>&1 &
    NSPAWN=$!
    # The container's init is the child of systemd-nspawn that runs systemd; not just its first
    # child: one CI run's boot finished in 0.24 s (the container's journal) while every `ct` on
    # the PID it had taken failed for 240 s. Looked up again whenever that PID is gone.
    CPID=
    local state= deadline=$(( $(date +%s) + ${CONTAINER_BOOT_TIMEOUT:-240} ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        kill -0 "$NSPAWN" 2>/dev/null || { tail -20 "$WORK/boot.log"; fail "systemd-nspawn exited during boot"; }
        [ -n "$CPID" ] && [ -d "/proc/$CPID" ] || CPID=$(container_init)
        if [ -n "$CPID" ]; then
            state=$(ct 'systemctl is-system-running' 2>/dev/null || true)
            case "$state" in running|degraded) break ;; esac
        fi
        sleep 0.5
    done
    case "$state" in
        running | degraded) ;;
        *)
            tail -20 "$WORK/boot.log"
            say "systemd-nspawn's children: $(ps -o pid=,comm= --ppid "$NSPAWN" 2>/dev/null | tr '\n' ' ')"
            [ -z "$CPID" ] || say "systemctl in PID $CPID's namespaces: $(ct 'systemctl is-system-running' 2>&1 || true)"
            fail "container systemd not up after ${CONTAINER_BOOT_TIMEOUT:-240} s (state: ${state:-none})" ;;
    esac
    say "container up ($state)"
}

# The environment `ct` runs commands with (also for `nsenter -t $CPID -a $CT_ENV sh -c ...`).
CT_ENV="env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive"

# Runs a shell command inside the container, with a clean environment.
ct() {
    # shellcheck disable=SC2086
    nsenter -t "$CPID" -a $CT_ENV sh -c "$1"
}
