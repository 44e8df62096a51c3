#!/bin/sh
# make deb: build findface-extraction-api_*.deb and findface-data_*.deb into dist/.
# Installs the build dependencies when missing (as root, or through sudo), builds in a
# copy of the working tree under build/deb/ (dpkg-buildpackage writes to the parent
# directory), reuses the model bundle built by `make models` and runs lintian.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
BUNDLE=${MODELS_BUNDLE:-$TOP/build/models}
CACHE=${MODELS_CACHE:-$TOP/build/cache}
DIST=$TOP/dist

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
MODELS_BUNDLE=$BUNDLE MODELS_CACHE=$CACHE dpkg-buildpackage -b -us -uc
echo "dpkg-buildpackage: $(( $(date +%s) - start )) s"
cd "$WORK"
rm -f "$DIST"/findface-extraction-api_* "$DIST"/findface-data_*
cp -v ./*.deb ./*.changes ./*.buildinfo "$DIST"/
ls -l "$DIST"
echo "lintian:"
lintian --fail-on error --info "$DIST"/findface-extraction-api_"$version"_*.changes
