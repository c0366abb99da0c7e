#!/usr/bin/env bash
# Steps 4 to 6 of packaging/build-deb.sh (which runs this; see it for the rest): the
# wheelhouse, dpkg-buildpackage and lintian, on the system this runs on. build-deb.sh runs it
# on the build host itself, or (--suite) chrooted into a root of another release, so that the
# venv is built by that release's python3, against its libc, and Depends name its python3.
#
#   packaging/build-package.sh SRC OUT
#
# SRC: the package's inputs (autosred-<version>/, as build-deb.sh copied them); OUT: an empty
# directory, which receives the one autosred_*_<arch>.deb and autosred.lintian.
set -euo pipefail

src=$1
out=$2
work=$(dirname "$src")
arch=$(dpkg --print-architecture)

# ---- 4. the wheelhouse -------------------------------------------------------------------
wheelhouse=$work/wheelhouse
echo "build-deb.sh: wheelhouse (pip wheel, constraints.txt, $(/usr/bin/python3 -V))" >&2
/usr/bin/python3 -m pip wheel --quiet --disable-pip-version-check \
    --wheel-dir "$wheelhouse" --constraint "$src/constraints.txt" "$src"
# The source tree must not keep what the wheel build left (build/, *.egg-info).
rm -rf "$src/build" "$src"/*.egg-info

# ---- 5. the package ----------------------------------------------------------------------
echo "build-deb.sh: dpkg-buildpackage -b" >&2
(cd "$src" && AUTOSRED_WHEELHOUSE=$wheelhouse dpkg-buildpackage -b -us -uc 2>&1 \
    | while IFS= read -r line; do printf '%(%T)T %s\n' -1 "$line"; done \
    >"$work/dpkg-buildpackage.log"; exit "${PIPESTATUS[0]}") || {
    tail -n 60 "$work/dpkg-buildpackage.log" >&2
    echo "build-deb.sh: dpkg-buildpackage failed (log above)" >&2
    exit 1
}
deb=$(compgen -G "$work/autosred_*_$arch.deb")

# ---- 6. lintian --------------------------------------------------------------------------
# The lintian of the system the package was built on: the one that knows that release.
echo "build-deb.sh: lintian $(lintian --version | cut -d' ' -f2)" >&2
verdict=0
lintian --fail-on error --display-level '>=warning' "$deb" \
    >"$work/autosred.lintian" 2>&1 || verdict=$?
if [ "$verdict" -ne 0 ]; then
    cat "$work/autosred.lintian" >&2
    echo "build-deb.sh: lintian found errors (above)" >&2
    exit 1
fi
cp "$deb" "$work/autosred.lintian" "$out/"
