#!/usr/bin/env bash
# Build the Debian package: `make deb` runs this. Writes exactly one
# dist/autosred_<version>+<dist>_<arch>.deb (any older dist/autosred_*.deb is removed) and
# dist/autosred.lintian (lintian's verdict on it).
#
#   packaging/build-deb.sh          the working tree as it is (uncommitted changes included,
#                                   ignored files left out)
#   packaging/build-deb.sh --head   the committed tree (git HEAD)
#
# Steps (see packaging/README.md, "The .deb"):
#   1. the build tools debian/control's Build-Depends name, and lintian: installed with
#      apt-get when missing (as root; otherwise the command to run is printed, exit 1);
#   2. the package's inputs (INPUTS below: autosred/, debian/, systemd/, this script and
#      packaging/man/, etc/autosred/, pyproject.toml, constraints.txt, README.md) copied to
#      build/deb/work.*/;
#   3. cache: their content hash, with the distribution, python3 version and architecture,
#      names a directory build/deb/cache/KEY/; a .deb already built from the same inputs
#      there is reused (no rebuild: CI builds once, make install-test reuses it);
#   4. otherwise a wheelhouse: pip wheel of autosred and every runtime dependency at the
#      versions constraints.txt pins, by the system python3 (native wheels for its ABI and
#      this architecture; this step uses the network, through pip's usual configuration);
#   5. dpkg-buildpackage -b: debian/rules installs the wheelhouse, offline, into the
#      package's private virtualenv /usr/lib/autosred/venv;
#   6. lintian: errors fail the build; warnings are overridden in
#      debian/autosred.lintian-overrides, each with its reason.
#
# AUTOSRED_DEB_CACHE (default build/deb/cache) moves the cache; entries older than the newest
# three are removed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
from=worktree
case "${1:-}" in
    "") ;;
    --head) from=head ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--head]" >&2; exit 2 ;;
esac
cd "$root"
# What the package is made of (and so what its cache key covers): packaging/'s documentation,
# Prometheus and Grafana files are not in it.
INPUTS=(autosred debian systemd packaging/build-deb.sh packaging/import-extensions.py
    packaging/man etc/autosred pyproject.toml constraints.txt README.md)

# ---- 1. build tools ------------------------------------------------------------------------
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
for tool in dpkg-checkbuilddeps dpkg-parsechangelog; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool missing: apt-get install dpkg-dev" >&2; exit 1; }
done
# dpkg-checkbuilddeps prints "Unmet build dependencies: a (>= 1) b" and exits 1.
missing=$(dpkg-checkbuilddeps debian/control 2>&1 | sed -n 's/.*Unmet build dependencies: //p' \
    | sed 's/([^)]*)//g; s/|[^ ]*//g') || true
command -v lintian >/dev/null || missing="$missing lintian"
read -r -a missing <<<"$missing"
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$EUID" -ne 0 ]; then
        echo "build-deb.sh: missing Debian packages: ${missing[*]}" >&2
        echo "run as root:  apt-get update && apt-get install -y --no-install-recommends" \
            "${missing[*]}" >&2
        exit 1
    fi
    echo "build-deb.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${version%-*}
package_version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' autosred/__init__.py)
if [ "$upstream" != "$package_version" ]; then
    echo "build-deb.sh: debian/changelog says $upstream, autosred/__init__.py says" \
        "$package_version: add a changelog entry (dch -v $package_version-1)" >&2
    exit 1
fi

# ---- 2. the inputs -------------------------------------------------------------------------
build=$root/build/deb
mkdir -p "$build"
# One build at a time (pytest workers, make install-test): a second waits, then finds the
# first one's package in the cache.
exec 9>"$build/.lock"
flock 9
work=$(mktemp -d "$build/work.XXXXXX")
# Kept when the build fails (its logs are the diagnosis); removed when it succeeds.
trap 'status=$?; if [ $status -eq 0 ]; then rm -rf "$work"; else echo "build-deb.sh: kept $work" >&2; fi' EXIT
src=$work/autosred-$upstream
mkdir -p "$src"
if [ "$from" = head ]; then
    git archive --format=tar HEAD -- "${INPUTS[@]}" | tar -x -C "$src"
else
    # Tracked and untracked-but-not-ignored files (a tracked file deleted in the working
    # tree is skipped); symlinks such as debian/autosred.service stay symlinks.
    git ls-files -z --cached --others --exclude-standard -- "${INPUTS[@]}" \
        | tar --null --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null \
        | tar -x -C "$src"
fi

# ---- 3. the cache --------------------------------------------------------------------------
# Everything that decides the package's bytes: every input file's path, mode and content
# (symlinks by their target), the distribution, its python3 and the architecture.
arch=$(dpkg --print-architecture)
key=$(
    cd "$src"
    find . \( -type f -o -type l \) -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' path; do
        if [ -L "$path" ]; then
            printf 'link %s %s\n' "$path" "$(readlink "$path")"
        else
            printf 'file %s %s %s\n' "$path" "$(stat -c %a "$path")" \
                "$(sha256sum <"$path" | cut -d' ' -f1)"
        fi
    done
    . /etc/os-release && echo "dist $ID ${VERSION_ID:-$VERSION_CODENAME}"
    echo "python $(/usr/bin/python3 -VV)"
    echo "arch $arch"
    echo "builder $(sha256sum <"$0" | cut -d' ' -f1)"
) && key=$(sha256sum <<<"$key" | cut -c1-16)
cache=${AUTOSRED_DEB_CACHE:-$build/cache}
entry=$cache/$key

if compgen -G "$entry/autosred_*_$arch.deb" >/dev/null && [ -f "$entry/autosred.lintian" ]; then
    echo "build-deb.sh: inputs unchanged (cache $key): reusing the package built from them" >&2
else
    # ---- 4. the wheelhouse ---------------------------------------------------------------
    wheelhouse=$work/wheelhouse
    echo "build-deb.sh: wheelhouse (pip wheel, constraints.txt, $(/usr/bin/python3 -V))" >&2
    /usr/bin/python3 -m pip wheel --quiet --disable-pip-version-check \
        --wheel-dir "$wheelhouse" --constraint "$src/constraints.txt" "$src"
    # The source tree must not keep what the wheel build left (build/, *.egg-info).
    rm -rf "$src/build" "$src"/*.egg-info

    # ---- 5. the package ------------------------------------------------------------------
    echo "build-deb.sh: dpkg-buildpackage -b" >&2
    (cd "$src" && AUTOSRED_WHEELHOUSE=$wheelhouse dpkg-buildpackage -b -us -uc 2>&1 \
        | while IFS= read -r line; do printf '%(%T)T %s\n' -1 "$line"; done \
        >"$work/dpkg-buildpackage.log"; exit "${PIPESTATUS[0]}") || {
        tail -n 60 "$work/dpkg-buildpackage.log" >&2
        echo "build-deb.sh: dpkg-buildpackage failed (log above)" >&2
        exit 1
    }
    deb=$(compgen -G "$work/autosred_*_$arch.deb")

    # ---- 6. lintian ----------------------------------------------------------------------
    echo "build-deb.sh: lintian" >&2
    verdict=0
    lintian --fail-on error --display-level '>=warning' "$deb" \
        >"$work/autosred.lintian" 2>&1 || verdict=$?
    if [ "$verdict" -ne 0 ]; then
        cat "$work/autosred.lintian" >&2
        echo "build-deb.sh: lintian found errors (above)" >&2
        exit 1
    fi
    rm -rf "$entry"
    mkdir -p "$cache"
    staged=$(mktemp -d "$cache/.new.XXXXXX")
    cp "$deb" "$work/autosred.lintian" "$staged/"
    mv "$staged" "$entry"
    # Keep the newest three entries.
    find "$cache" -mindepth 1 -maxdepth 1 -type d -not -name '.*' -printf '%T@ %p\n' \
        | sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
fi

mkdir -p dist
rm -f dist/autosred_*.deb dist/autosred.lintian
cp "$entry"/autosred_*_"$arch".deb "$entry/autosred.lintian" dist/
deb=$(compgen -G "dist/autosred_*_$arch.deb")
echo "build-deb.sh: $root/$deb ($(du -h "$deb" | cut -f1); lintian: dist/autosred.lintian)" >&2
