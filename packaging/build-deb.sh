#!/bin/sh
# make deb: build findface-extraction-api_*.deb and findface-data_*.deb into dist/, and
# findface-data-liveness_*.deb only when asked: LIVENESS_PACK=DIR (`make deb
# LIVENESS_PACK=../shared/models/minifasnet`), a MiniFASNet pack as models-data/README.md
# describes. Installs the build dependencies when missing (as root, or through sudo), builds in
# a copy of the working tree under build/deb/ (dpkg-buildpackage writes to the parent
# directory), builds the model bundles from the wheel cache of `make models` with the
# repository's .venv, runs lintian and prints each package's download and installed size.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
CACHE=${MODELS_CACHE:-$TOP/build/cache}
PYTHON=${MODELS_PYTHON:-$TOP/.venv/bin/python}
DIST=$TOP/dist
LIVENESS_PACK=${LIVENESS_PACK:-}
profiles=
if [ -n "$LIVENESS_PACK" ]; then
    [ -d "$LIVENESS_PACK" ] || { echo "LIVENESS_PACK=$LIVENESS_PACK is not a directory" >&2; exit 1; }
    LIVENESS_PACK=$(cd "$LIVENESS_PACK" && pwd)
    profiles=pkg.findface-extraction-api.liveness
    echo "building findface-data-liveness from the pack in $LIVENESS_PACK"
else
    echo "building without findface-data-liveness (make deb LIVENESS_PACK=DIR builds it)"
fi

deps="debhelper dh-virtualenv dpkg-dev gcc pkg-config libsystemd-dev python3 python3-dev python3-venv lintian"
missing=
for p in $deps; do
    dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing build dependencies:$missing"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

# the package version is the project's version
version=$(dpkg-parsechangelog -S Version)
py_version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' findface_extraction_api/__init__.py)
if [ "$version" != "$py_version" ]; then
    echo "debian/changelog is at $version but findface_extraction_api/__init__.py at $py_version:" \
         "add a changelog entry (dch -v $py_version)" >&2
    exit 1
fi

WORK=$TOP/build/deb
SRC=$WORK/findface-extraction-api-$version
rm -rf "$WORK"
mkdir -p "$SRC" "$DIST"
# tracked and new (not ignored) files: what `git status` shows, not build outputs or venvs
git ls-files -z --cached --others --exclude-standard \
    | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$SRC"

cd "$SRC"
start=$(date +%s)
MODELS_PYTHON=$PYTHON MODELS_CACHE=$CACHE LIVENESS_PACK=$LIVENESS_PACK \
    dpkg-buildpackage -b -us -uc ${profiles:+--build-profiles=$profiles}
echo "dpkg-buildpackage: $(( $(date +%s) - start )) s"
cd "$WORK"
rm -f "$DIST"/findface-extraction-api_* "$DIST"/findface-data_* "$DIST"/findface-data-liveness_*
cp -v ./*.deb ./*.changes ./*.buildinfo "$DIST"/
ls -l "$DIST"
echo "lintian:"
lintian --fail-on error --info "$DIST"/findface-extraction-api_"$version"_*.changes
echo "sizes (download: the .deb; installed: dpkg's Installed-Size and du of the unpacked tree):"
for deb in "$DIST"/*_"$version"_*.deb; do
    tree=$(mktemp -d "$WORK/size.XXXXXX")
    dpkg-deb -x "$deb" "$tree"
    awk -v name="$(basename "$deb")" -v deb="$(stat -c %s "$deb")" \
        -v inst="$(dpkg-deb -f "$deb" Installed-Size)" -v du="$(du -sk "$tree" | cut -f1)" \
        'BEGIN { printf "    %-42s download %6.1f MiB, Installed-Size %6.1f MiB, du %6.1f MiB\n",
                 name, deb / 1048576, inst / 1024, du / 1024 }'
    rm -rf "$tree"
done
