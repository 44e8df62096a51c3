#!/bin/bash
# make test-deb: install dist/*.deb in a booted, minimal Debian 12 container and run the
# service the way users do (apt-get install, edit the ini, systemctl enable --now), then
# remove it. Skips (exit 0, one "SKIP:" line) when this machine cannot run it; set
# TEST_DEB_REQUIRED=1 to turn a skip into a failure.
#
# How: debootstrap a minbase bookworm root once (cached in $TEST_DEB_CACHE), copy it to
# build/test-deb/root, boot it with `systemd-nspawn -b --register=no --keep-unit` and run
# commands inside with nsenter into the namespaces of the container's systemd (the child of
# the nspawn process). The container shares the host's network: the test uses ports that are
# free on the host, so a development daemon on 127.0.0.1:18666 is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)
TEST=test-deb
WORK=$TOP/build/test-deb
CACHE=${TEST_DEB_CACHE:-/var/cache/findface-extraction-api-test}
INCLUDE=
REQUIRED=${TEST_DEB_REQUIRED:-0}
# shellcheck source=packaging/container.sh
. packaging/container.sh
now_ns() { date +%s%N; }
since() { local d=$(( $(now_ns) - $1 )); printf '%d.%d' $(( d / 1000000000 )) $(( d / 100000000 % 10 )); }

container_preflight
container_packages
api_deb=$API_DEB data_deb=$DATA_DEB live_deb=$LIVE_DEB
if [ -n "$live_deb" ]; then
    say "optional package: $live_deb ($(du -k "$live_deb" | cut -f1) KiB), tested after the template instance"
else
    say "no findface-data-liveness package in dist/ (make deb LIVENESS_PACK=DIR): its stage is skipped"
fi

# ---- sample.jpg: the public-domain astronaut, made on the host ----------------------------
[ -x .venv/bin/python ] || make venv
mkdir -p "$WORK"
.venv/bin/python -c "import skimage.data as d, PIL.Image as I; I.fromarray(d.astronaut()).save('$WORK/sample.jpg')"

# ---- the root file system (a copy of the cached debootstrap) and what goes into it ----------
container_rootfs
mkdir -p "$ROOT/root/debs"
cp "$api_deb" "$data_deb" "$ROOT/root/debs/"
[ -z "$live_deb" ] || cp "$live_deb" "$ROOT/root/"
cp packaging/check-docs.py "$ROOT/root/check-docs.py"
cp "$WORK/sample.jpg" "$ROOT/root/sample.jpg"

# ---- boot ----------------------------------------------------------------------------------
container_boot
trap 'say "FAIL: line $LINENO: $BASH_COMMAND"' ERR

# ---- install ---------------------------------------------------------------------------------
# ports free on the host (the container shares its network); never 18666 if a dev daemon has it
free_port() {
    local p
    for p in $(seq "$1" "$(( $1 + 200 ))"); do
        case " $USED " in *" $p "*) continue ;; esac
        if ! ss -Htln "sport = :$p" | grep -q .; then USED="$USED $p"; echo "$p"; return; fi
    done
    fail "no free port from $1"
}
USED=
if ss -Htln 'sport = :18666' | grep -q .; then
    say "127.0.0.1:18666 is in use on the host (a development daemon?): the test uses other ports"
    PORT1=$(free_port 18700)
else
    PORT1=18666; USED=18666
fi
PORT2=$(free_port 18720)
PORT3=$(free_port 18740)

say "apt-get install ./findface-data_*.deb ./findface-extraction-api_*.deb (dependencies from $MIRROR)"
ct 'apt-get update -qq && cd /root/debs && apt-get install -y -q ./findface-data_*.deb ./findface-extraction-api_*.deb' \
    > "$WORK/apt-install.log" 2>&1 || { tail -30 "$WORK/apt-install.log"; fail "apt-get install failed"; }
grep -E '^(Need to get|After this operation)' "$WORK/apt-install.log" | sed 's/^/    /'
[ "$(ct 'systemctl is-enabled findface-extraction-api' || true)" = disabled ] || fail "unit not installed disabled"
[ "$(ct 'systemctl is-active findface-extraction-api' || true)" = inactive ] || fail "service started by the install"
ct 'test -f /usr/share/findface-data/models/manifest.json && test -f /usr/share/findface-data/models/licenses/README.md \
    && test -f /usr/share/doc/findface-data/copyright && test -x /usr/bin/findface-extraction-api \
    && dpkg-query -W -f "\${Conffiles}\n" findface-extraction-api | grep -q /etc/findface-extraction-api.ini' \
    || fail "installed files missing (models, licences, copyright, /usr/bin entry, conffile)"
ct '/usr/lib/findface-extraction-api/venv/bin/python -c "import systemd.daemon"' || fail "python-systemd missing from the venv"
say "installed: disabled and inactive, as expected"

# ---- what a user reads: the docs and their links, the man page; the venv's contents -------------
DOC=/usr/share/doc/findface-extraction-api
ct 'python3 /root/check-docs.py' || fail "installed documentation: broken links (above)"
docs=$(ct "systemctl show -P Documentation findface-extraction-api.service findface-extraction-api@x.service" | tr -d '"' | tr ' ' '\n' | sort -u)
[ "$(echo "$docs" | grep -c .)" -ge 2 ] || fail "the units name no Documentation= ($docs)"
ct 'apt-get install -y -q --no-install-recommends man-db' > "$WORK/apt-man.log" 2>&1 \
    || { tail -5 "$WORK/apt-man.log"; fail "cannot install man-db"; }
for d in $docs; do
    case "$d" in
        file:*) ct "test -f '${d#file:}'" || fail "unit Documentation=$d: no such file" ;;
        man:*) page=${d#man:}; ct "man -w '${page%%(*}' >/dev/null" || fail "unit Documentation=$d: no such man page" ;;
        *) fail "unit Documentation=$d: neither file: nor man:" ;;
    esac
done
say "docs in $DOC: links resolve; units' Documentation= resolve: $(echo $docs)"
ct 'LC_ALL=C MANWIDTH=100 man --warnings findface-extraction-api 2>/root/man.err >/root/man.txt' \
    || fail "man findface-extraction-api"
[ ! -s "$ROOT/root/man.err" ] || { cat "$ROOT/root/man.err"; fail "the man page renders with warnings"; }
for section in NAME SYNOPSIS DESCRIPTION OPTIONS SIGNALS ENVIRONMENT FILES 'EXIT STATUS' 'SEE ALSO'; do
    grep -q "^$section\$" "$ROOT/root/man.txt" || fail "man page: no $section section"
done
options=$(ct 'findface-extraction-api --help' | grep -oE -- '--[a-z][a-z-]+' | sort -u)
[ "$(echo "$options" | grep -c .)" -ge 5 ] || fail "findface-extraction-api --help lists too few options: $options"
for o in $options SIGHUP SIGTERM /etc/findface-extraction-api.ini /usr/share/findface-data/models; do
    grep -q -- "$o" "$ROOT/root/man.txt" || fail "man page does not mention $o"
done
say "man findface-extraction-api: $(wc -l < "$ROOT/root/man.txt") lines, no warnings; every option of --help ($(echo $options)), signals, files"
VENV=/usr/lib/findface-extraction-api/venv
ct "$VENV/bin/python -c 'import importlib.util as u, sys; \
found = [m for m in (\"pip\", \"setuptools\", \"pkg_resources\", \"wheel\", \"_distutils_hack\") if u.find_spec(m)]; \
sys.exit(f\"importable in the venv: {found}\" if found else 0)'" || fail "install-time tools left in the venv"
extra=$(ct "ls $VENV/bin | grep -E '^(pip|wheel|easy_install)'; find $VENV -type d \\( -name tests -o -name test \\) -print" || true)
[ -z "$extra" ] || { echo "$extra" | sed 's/^/    /'; fail "pip/wheel scripts or test directories in the venv"; }
say "venv: no pip, setuptools, wheel or test directories ($(ct "du -sh $VENV | cut -f1") installed, compiled)"

# ---- the vendor's steps: edit the ini, enable and start ---------------------------------------
ct "sed -i 's/^listen = .*/listen = 127.0.0.1:$PORT1/' /etc/findface-extraction-api.ini"
t=$(now_ns)
ct 'systemctl enable --now findface-extraction-api' 2>&1 | sed 's/^/    /'
say "systemctl enable --now returned after $(since "$t") s"
[ "$(ct 'systemctl is-active findface-extraction-api' || true)" = active ] || {
    ct 'journalctl -u findface-extraction-api --no-pager | tail -30'; fail "service not active"; }
# Type=notify: active means the socket already listens, so no retry here
ct "curl -fsS http://127.0.0.1:$PORT1/" > "$WORK/get.json" || fail "active but GET / fails (READY=1 too early?)"
say "active and answering on 127.0.0.1:$PORT1: $(head -c 120 "$WORK/get.json")"
uid=$(ct 'pid=$(systemctl show -P MainPID findface-extraction-api); sed -n "s/^Uid:[[:space:]]*\([0-9]*\).*/\1/p" /proc/$pid/status')
[ -n "$uid" ] && [ "$uid" != 0 ] || fail "daemon runs as uid '${uid}'"
say "daemon runs as uid $uid (DynamicUser)"

# ---- the vendor's curl examples (README), URL adapted to the port --------------------------
ct "cd /root && curl -fsS -X POST -F sample=@sample.jpg -F 'request={\"requests\":[{\"image\":\"multipart:sample\",\"detector\":\"nnd\", \"need_gender\":true, \"need_normalized\": true, \"need_facen\": true}]}' http://127.0.0.1:$PORT1/ > /root/r1.json"
ct "cd /root && curl -fsS -X POST -F sample=@sample.jpg -F 'request={\"requests\": [{\"need_age\": true, \"need_gender\": true, \"detector\": \"nnd\", \"roi\": {\"left\": -2975, \"top\": -635, \"right\": 4060, \"bottom\": 1720}, \"image\": \"multipart:sample\", \"need_emotions\": true}]}' http://127.0.0.1:$PORT1/ > /root/r2.json"
/usr/bin/python3 - "$ROOT/root/r1.json" "$ROOT/root/r2.json" <<'EOF' || fail "unexpected answers to the vendor's examples"
import base64, json, sys
r1, r2 = (json.load(open(p))["responses"] for p in sys.argv[1:3])
f1, f2 = r1[0]["faces"], r2[0]["faces"]
assert len(f1) == 1 and len(f2) == 1, (f1, f2)
for face in f1 + f2:
    b = face["bbox"]
    assert 150 < b["left"] < b["right"] < 300 and 40 < b["top"] < b["bottom"] < 200, b
    assert face["detection_score"] > 0.6 and face["gender"]["gender"] == "FEMALE", face
assert len(base64.b64decode(f1[0]["facen"])) == 512
assert base64.b64decode(f1[0]["normalized"])[:8] == b"\x89PNG\r\n\x1a\n"
assert 15 < f2[0]["age"] < 60 and len(f2[0]["emotions"]) == 7, f2
print(f"    request #1: bbox {f1[0]['bbox']}, gender {f1[0]['gender']}, facen 128 floats, normalized PNG")
print(f"    request #2: age {f2[0]['age']:.1f}, top emotion {f2[0]['emotions'][0]}")
EOF
say "both vendor examples: real faces back"
ct "journalctl -t findface-extraction-api --no-pager -o cat | grep -q 'listening on 127.0.0.1:$PORT1'" \
    || fail "no 'listening on' line under SyslogIdentifier findface-extraction-api in the journal"
say "journal: $(ct "journalctl -t findface-extraction-api --no-pager -o short | grep 'listening on' | tail -1")"

# ---- operations: probes, metrics, telemetry, reload, SIGHUP ------------------------------------
VENVPY=/usr/lib/findface-extraction-api/venv/bin/python
ct "curl -fsS http://127.0.0.1:$PORT1/health" | grep -q '"ok"' || fail "GET /health"
ct "curl -fsS http://127.0.0.1:$PORT1/ready" | grep -q '"ready"' || fail "GET /ready is not 200 once active"
ct "curl -fsS http://127.0.0.1:$PORT1/metrics > /root/metrics.txt" || fail "GET /metrics"
ct "$VENVPY -c 'from prometheus_client.parser import text_string_to_metric_families as p; import sys; \
names = {f.name for f in p(open(\"/root/metrics.txt\").read())}; \
need = {\"ffea_http_requests\", \"ffea_stage_duration_seconds\", \"ffea_ready\", \"process_resident_memory_bytes\"}; \
assert need <= names, need - names; print(\"    metrics:\", len(names), \"families, parsed by prometheus_client\")'" \
    || fail "/metrics does not parse or lacks the documented families"
telemetry=$(ct "find / -xdev \\( -path /proc -o -path /sys \\) -prune -o \\( -ipath '*Microsoft/DeveloperTools*' -o -ipath '*/.onnxruntime*' -o -name onnxruntime.db \\) -print" || true)
[ -z "$telemetry" ] || fail "onnxruntime telemetry files: $telemetry"
! ct "journalctl -t findface-extraction-api --no-pager -o cat | grep -qi telemetry" || fail "a telemetry line in the journal"
say "probes answer, /metrics parses, no telemetry files or lines"
# the allocator: huge pages for large buffers (the daemon starts over with the glibc tunable, same PID)
mainpid=$(ct 'systemctl show -P MainPID findface-extraction-api')
allocator=$(ct "journalctl -t findface-extraction-api --no-pager -o cat | grep 'memory allocator:' | tail -1")
if grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
    echo "$allocator" | grep -q 'no huge pages' || fail "allocator line under the unit: '$allocator' (THP is off here)"
else
    echo "$allocator" | grep -q 'transparent huge pages for large buffers' \
        || fail "no 'transparent huge pages for large buffers' in the allocator line under the unit: '$allocator'"
    ct "tr '\\0' '\\n' < /proc/$mainpid/environ" | grep -qx 'GLIBC_TUNABLES=glibc.malloc.hugetlb=1' \
        || fail "the daemon under the unit does not run with GLIBC_TUNABLES=glibc.malloc.hugetlb=1"
fi
say "allocator under the unit (PID $mainpid): ${allocator#*memory allocator: }"
pid=$(ct 'systemctl show -P MainPID findface-extraction-api')
ct "sed -i 's/^level = info/level = warning/' /etc/findface-extraction-api.ini"
one='{"image":"multipart:sample","detector":"legacy","need_facen":true,"need_age":true}'
ct "cd /root && curl -sS -o /root/reload.json -w '%{http_code}' -F sample=@sample.jpg -F 'request={\"requests\":[$one,$one,$one,$one,$one,$one]}' http://127.0.0.1:$PORT1/ > /root/reload.code" &
inflight=$!
sleep 0.5
ct 'systemctl reload findface-extraction-api' || fail "systemctl reload failed"
wait "$inflight" || true
[ "$(cat "$ROOT/root/reload.code")" = 200 ] && grep -q '"faces"' "$ROOT/root/reload.json" \
    || fail "the request in flight during reload got $(cat "$ROOT/root/reload.code")"
ct "journalctl -t findface-extraction-api --no-pager -o cat | grep -q 'configuration reloaded: log.level changed'" \
    || fail "reload: no 'configuration reloaded: log.level changed' line"
ct "kill -HUP $pid" && sleep 1
[ "$(ct 'systemctl is-active findface-extraction-api' || true)" = active ] && \
    [ "$(ct 'systemctl show -P MainPID findface-extraction-api')" = "$pid" ] || fail "SIGHUP stopped or restarted the daemon"
ct "sed -i 's/^level = warning/level = info/' /etc/findface-extraction-api.ini && systemctl reload findface-extraction-api"
say "systemctl reload: log level applied, the request in flight got 200; SIGHUP: same PID $pid, still active"

# ---- a bad configuration: failed at once, one error line, no restart loop ------------------------
ct "cp /etc/findface-extraction-api.ini /root/good.ini && sed -i 's/^max_dimension = .*/max_dimension = many/' /etc/findface-extraction-api.ini"
ct 'systemctl restart findface-extraction-api' >/dev/null 2>&1 || true
sleep 4
[ "$(ct 'systemctl is-failed findface-extraction-api' || true)" = failed ] || fail "a bad config did not end in failed"
restarts=$(ct 'systemctl show -P NRestarts findface-extraction-api')
[ "$restarts" = 0 ] || fail "a bad config was restarted $restarts time(s)"
ct "journalctl -t findface-extraction-api -p err --no-pager -o cat | grep -q \"key 'max_dimension'\"" \
    || fail "the config error is not in journalctl -p err"
say "bad config: failed, 0 restarts, 'journalctl -p err': $(ct "journalctl -t findface-extraction-api -p err --no-pager -o cat | tail -1")"
ct "cp /root/good.ini /etc/findface-extraction-api.ini && systemctl reset-failed findface-extraction-api && systemctl start findface-extraction-api"
[ "$(ct 'systemctl is-active findface-extraction-api' || true)" = active ] || fail "not active again after fixing the config"

# ---- restart; a changed config key applied ---------------------------------------------------
ct 'systemctl restart findface-extraction-api'
[ "$(ct 'systemctl is-active findface-extraction-api' || true)" = active ] || fail "not active after restart"
ct "curl -fsS -o /dev/null http://127.0.0.1:$PORT1/" || fail "not answering after restart"
say "systemctl restart: active again"
ct "sed -i 's/^listen = .*/listen = 127.0.0.1:$PORT2/' /etc/findface-extraction-api.ini && systemctl restart findface-extraction-api"
ct "curl -fsS -o /dev/null http://127.0.0.1:$PORT2/" || fail "edited listen port $PORT2 not applied"
! ct "curl -fsS -o /dev/null http://127.0.0.1:$PORT1/ 2>/dev/null" || fail "still answering on the old port $PORT1"
say "listen = 127.0.0.1:$PORT2 applied by a restart"

# ---- the precisions: float32 in the shipped sandbox, bfloat16 with the documented drop-in ---------
# (the facen's and the attribute networks': "facen attributes" from GET /)
precision() { ct "curl -fsS http://127.0.0.1:$PORT2/" | /usr/bin/python3 -c 'import json, sys; b = json.load(sys.stdin); print(b["facen"]["precision"], b["attributes"]["precision"])'; }
[ "$(precision)" = "float32 float32" ] || fail "the facen and attributes do not run in float32 under the unit's MemoryDenyWriteExecute=yes"
if grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo; then
    ct "journalctl -t findface-extraction-api --no-pager -o cat | grep -q 'facen: float32 inference (.*MemoryDenyWriteExecute'" \
        || fail "no log line saying why the facen runs in float32"
    ct "journalctl -t findface-extraction-api --no-pager -o cat | grep -q 'age, gender and emotions: float32 inference (.*MemoryDenyWriteExecute'" \
        || fail "no log line saying why the attribute networks run in float32"
    DROPIN=/etc/systemd/system/findface-extraction-api.service.d
    ct "mkdir -p $DROPIN && printf '[Service]\nMemoryDenyWriteExecute=no\n' > $DROPIN/bfloat16.conf \
        && systemctl daemon-reload && systemctl restart findface-extraction-api"
    [ "$(precision)" = "bfloat16 bfloat16" ] || fail "the documented drop-in did not give the bfloat16 facen and attributes"
    ct "cd /root && curl -fsS -X POST -F sample=@sample.jpg -F 'request={\"requests\":[{\"image\":\"multipart:sample\", \"need_facen\": true, \"need_gender\": true}]}' http://127.0.0.1:$PORT2/ > /root/r3.json"
    /usr/bin/python3 - "$ROOT/root/r1.json" "$ROOT/root/r3.json" <<'PY' || fail "the bfloat16 facen or gender is not comparable with the float32 one"
import base64, json, struct, sys
f32, b16 = (json.load(open(p))["responses"][0]["faces"][0] for p in sys.argv[1:3])
a, b = (struct.unpack("<128f", base64.b64decode(face["facen"])) for face in (f32, b16))
cosine = sum(x * y for x, y in zip(a, b))
assert cosine >= 0.999, cosine
assert b16["gender"]["gender"] == f32["gender"]["gender"], (f32["gender"], b16["gender"])
assert abs(b16["gender"]["score"] - f32["gender"]["score"]) < 0.03, (f32["gender"], b16["gender"])
print(f"    bfloat16 against request #1's float32: facen cosine {cosine:.5f}, gender {b16['gender']} against {f32['gender']}")
PY
    ct "rm -r $DROPIN && systemctl daemon-reload && systemctl restart findface-extraction-api"
    [ "$(precision)" = "float32 float32" ] || fail "not float32 again without the drop-in"
    say "facen and attributes: float32 in the shipped sandbox; bfloat16 with MemoryDenyWriteExecute=no (drop-in), comparable vectors"
else
    say "facen and attributes: float32 (this CPU has no bfloat16 units; the drop-in is not tested here)"
fi

# ---- stop: a request in flight still gets its answer -------------------------------------------
# eight legacy-detector requests in one envelope: a few seconds of work, well under the 10 s drain
one='{"image":"multipart:sample","detector":"legacy","need_facen":true,"need_age":true,"need_gender":true,"need_emotions":true}'
envelope="{\"requests\":[$one,$one,$one,$one,$one,$one,$one,$one]}"
ct "cd /root && curl -sS -o /root/inflight.json -w '%{http_code}' -F sample=@sample.jpg -F 'request=$envelope' http://127.0.0.1:$PORT2/ > /root/inflight.code" &
inflight=$!
sleep 0.8
t=$(now_ns)
ct 'systemctl stop findface-extraction-api'
stop_s=$(since "$t")
wait "$inflight" || true
result=$(ct 'systemctl show -P Result findface-extraction-api')
status=$(ct 'systemctl show -P ExecMainStatus findface-extraction-api')
[ "$result" = success ] && [ "$status" = 0 ] || fail "stop: Result=$result ExecMainStatus=$status"
[ "$(cat "$ROOT/root/inflight.code")" = 200 ] && grep -q '"faces"' "$ROOT/root/inflight.json" \
    || fail "the request in flight during stop got $(cat "$ROOT/root/inflight.code") $(head -c 200 "$ROOT/root/inflight.json")"
say "systemctl stop: ${stop_s} s, Result=success, exit 0; the request in flight got 200 with faces"
ct "journalctl -t findface-extraction-api --no-pager -o cat | grep -E 'stopping|stopped|unfinished' | tail -3" | sed 's/^/    /'

# ---- a template instance -----------------------------------------------------------------------
ct "sed 's/^listen = .*/listen = 127.0.0.1:$PORT3/' /etc/findface-extraction-api.ini > /etc/findface-extraction-api-a.ini \
    && systemctl enable --now findface-extraction-api@a"
ct "curl -fsS -o /dev/null http://127.0.0.1:$PORT3/" || fail "template instance @a not answering on $PORT3"
ct "journalctl -t findface-extraction-api-a --no-pager -o cat | grep -q 'listening on 127.0.0.1:$PORT3'" \
    || fail "template instance: no 'listening on' under SyslogIdentifier findface-extraction-api-a"
say "findface-extraction-api@a: enabled, active on $PORT3, journal identifier findface-extraction-api-a"

# ---- the optional liveness package ---------------------------------------------------------------
# liveness FILE: ask instance @a for need_liveness; prints the first face's liveness, or the error
liveness() {
    ct "cd /root && curl -fsS -F sample=@sample.jpg -F 'request={\"requests\":[{\"image\":\"multipart:sample\",\"detector\":\"nnd\",\"need_liveness\":true}]}' http://127.0.0.1:$PORT3/ > /root/$1"
    /usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["responses"][0]
print(json.dumps(r["faces"][0]["liveness"] if "faces" in r else r["error"]))' "$ROOT/root/$1"
}
if [ -n "$live_deb" ]; then
    answer=$(liveness live-none.json)
    echo "$answer" | grep -q 'not installed' || fail "need_liveness without findface-data-liveness: $answer"
    ct "apt-get install -y -q /root/$(basename "$live_deb")" > "$WORK/apt-liveness.log" 2>&1 \
        || { tail -20 "$WORK/apt-liveness.log"; fail "apt-get install findface-data-liveness failed"; }
    ct 'dpkg-divert --list findface-data-liveness' | sed 's/^/    /'
    # postinst restarted the running instance (systemctl restart returns once it is ready again)
    answer=$(liveness live-installed.json)
    echo "$answer" | /usr/bin/python3 -c 'import json, sys; l = json.load(sys.stdin)
assert 0 <= l["score"] <= 1 and l["value"] in ("REAL", "FAKE"), l' || fail "need_liveness with findface-data-liveness: $answer"
    ct "curl -fsS http://127.0.0.1:$PORT3/" | grep -q liveness_v2 || fail "GET / does not list liveness_v2"
    say "findface-data-liveness installed: @a restarted by postinst, need_liveness gives $answer"
    ct 'apt-get remove -y -q findface-data-liveness' > "$WORK/apt-liveness.log" 2>&1 \
        || { tail -20 "$WORK/apt-liveness.log"; fail "apt-get remove findface-data-liveness failed"; }
    [ -z "$(ct 'dpkg-divert --list "*findface*"')" ] || fail "a diversion is left after removing findface-data-liveness"
    ct 'dpkg --verify findface-data' || fail "findface-data's files (manifest.json) not as shipped after removing findface-data-liveness"
    answer=$(liveness live-removed.json)
    echo "$answer" | grep -q 'not installed' || fail "need_liveness after removing findface-data-liveness: $answer"
    say "removed: findface-data's manifest back (dpkg --verify clean), @a restarted without liveness"
    # again, so that the purge below covers it: @a's fourth start within a minute, past the unit's
    # StartLimitBurst=3, which the maintainer scripts reset for the restarts they make
    ct "apt-get install -y -q /root/$(basename "$live_deb")" > "$WORK/apt-liveness.log" 2>&1 \
        || fail "reinstalling findface-data-liveness failed"
    answer=$(liveness live-again.json)
    echo "$answer" | grep -q '"score"' || fail "need_liveness after reinstalling findface-data-liveness: $answer"
    say "reinstalled: @a restarted a fourth time within a minute (start limit reset), liveness again"
fi

# ---- sandboxing score ----------------------------------------------------------------------------
ct 'systemd-analyze security --no-pager findface-extraction-api.service' > "$WORK/security.txt" 2>&1 || true
say "systemd-analyze security: $(grep -i 'overall exposure' "$WORK/security.txt" | sed 's/.*: //')"
grep -E '^✗' "$WORK/security.txt" | sed 's/^/    /' || true

# ---- the daemon's own warnings (sandboxing side effects would show here) ----------------------
ct 'journalctl --no-pager -o short -t findface-extraction-api -t findface-extraction-api-a' > "$WORK/journal.txt"
say "journal of the service: $(wc -l < "$WORK/journal.txt") lines in $WORK/journal.txt, warnings/errors:"
grep -Ei 'warn|error|denied|not permitted|traceback' "$WORK/journal.txt" | sed 's/^/    /' || echo "    (none)"
# e.g. ProcSubset=pid hides /proc/cpuinfo and onnxruntime loses its CPU feature detection
! grep -Eqi 'cpuinfo|traceback|denied|not permitted|seccomp' "$WORK/journal.txt" \
    || fail "the sandbox gets in the daemon's way (see the journal lines above)"

# ---- purge ---------------------------------------------------------------------------------------
link=/etc/systemd/system/multi-user.target.wants/findface-extraction-api@a.service
ct "test -L $link" || fail "systemctl enable findface-extraction-api@a made no $link"
ct "apt-get purge -y -q findface-extraction-api findface-data ${live_deb:+findface-data-liveness}" > "$WORK/apt-purge.log" 2>&1 \
    || { tail -20 "$WORK/apt-purge.log"; fail "apt-get purge failed"; }
ct 'rm -f /etc/findface-extraction-api-a.ini'   # the administrator's own file, not the package's
[ "$(ct 'systemctl is-active findface-extraction-api@a' || true)" = inactive ] || fail "instance @a still running after purge"
left=$(ct "dpkg -l 'findface*' 2>/dev/null | grep -E '^[a-z][a-zA-Z] ' | grep -Ev '^(un|pn) ' ; \
    find / -xdev \\( -path /proc -o -path /sys -o -path /root \\) -prune -o -iname '*findface*' -print; \
    systemctl list-unit-files --no-legend 'findface*'; getent passwd | grep -i findface; \
    dpkg-divert --list '*findface*'; find /etc/systemd -xtype l -name '*findface*'" || true)
[ -z "$left" ] || { echo "$left" | sed 's/^/    /'; fail "apt-get purge left these behind"; }
say "apt-get purge: no package, file, unit, user, diversion or instance link ($link) left"

container_shutdown
say "container powered off"
