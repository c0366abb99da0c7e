#!/usr/bin/env bash
# Build the Debian package: `make deb` runs this. Writes exactly one
# dist/autosred_<version>+<dist>_<arch>.deb (any older dist/autosred_*.deb is removed) and
# dist/autosred.lintian (lintian's verdict on it).
#
#   packaging/build-deb.sh                the working tree as it is (uncommitted changes
#                                         included, ignored files left out), for this host's
#                                         release
#   packaging/build-deb.sh --head         the committed tree (git HEAD)
#   packaging/build-deb.sh --suite NAME   for another release (trixie, noble, bookworm ...),
#                                         built inside a root of it: dist/NAME/autosred_*.deb
#                                         and dist/NAME/autosred.lintian (`make deb SUITE=NAME`)
#
# Steps (see packaging/README.md, "The .deb"):
#   1. the build tools debian/control's Build-Depends name, and lintian: installed with
#      apt-get when missing (as root; otherwise the command to run is printed, exit 1).
#      --suite: debootstrap instead (root needed), then a root of that release with the same
#      tools, made once and cached under build/deb/roots/ (tests/install/rootfs.py);
#   2. the package's inputs (INPUTS below: autosred/, debian/, systemd/, this script and
#      packaging/man/, etc/autosred/, pyproject.toml, constraints.txt, README.md) copied to
#      build/deb/work.*/;
#   3. cache: their content hash, with the distribution, python3 version and architecture,
#      names a directory build/deb/cache/KEY/ (build/deb/cache/NAME/KEY/ for --suite); a .deb
#      already built from the same inputs there is reused (no rebuild: CI builds once, make
#      install-test reuses it);
#   4. otherwise a wheelhouse: pip wheel of autosred and every runtime dependency at the
#      versions constraints.txt pins, by the system python3 (native wheels for its ABI and
#      this architecture; this step uses the network, through pip's usual configuration);
#   5. dpkg-buildpackage -b: debian/rules installs the wheelhouse, offline, into the
#      package's private virtualenv /usr/lib/autosred/venv;
#   6. lintian: errors fail the build; warnings are overridden in
#      debian/autosred.lintian-overrides, each with its reason.
#   Steps 4 to 6 are packaging/build-package.sh: run on this host, or with --suite chrooted
#   into an overlay over the release's root (the cached root itself is never written), so
#   that its python3 builds the venv and its dpkg-shlibdeps and lintian judge the package.
#
# AUTOSRED_DEB_CACHE (default build/deb/cache) moves the cache; entries older than the newest
# three (per release) are removed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
from=worktree
suite=
suite_set=
while [ $# -gt 0 ]; do
    case "$1" in
        --head) from=head ;;
        --suite) suite=${2-}; suite_set=1; shift $(($# > 1)) ;;
        --suite=*) suite=${1#--suite=}; suite_set=1 ;;
        -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--head] [--suite NAME]" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$suite_set" ] && ! [[ $suite =~ ^[a-z][a-z0-9-]*$ ]]; then
    echo "build-deb.sh: --suite $suite: not a release name" >&2
    exit 2
fi
cd "$root"
# What the package is made of (and so what its cache key covers): packaging/'s documentation,
# Prometheus and Grafana files are not in it.
INPUTS=(autosred debian systemd packaging/build-deb.sh packaging/build-package.sh
    packaging/import-extensions.py packaging/man etc/autosred pyproject.toml constraints.txt
    README.md)
# A release's build root: the install tests' minimal root, in which apt-get installs
# debian/control's Build-Depends (debhelper-compat is debhelper's), what dpkg-buildpackage
# itself requires (build-essential), lintian, and the certificates pip needs for https.
# dpkg-buildpackage checks the Build-Depends again in it.
BUILD_ROOT_PACKAGES=(debhelper python3 python3-pip python3-venv dpkg-dev build-essential
    lintian ca-certificates)

# `in_root CMD...`: CMD chrooted into an overlay over the cached release root $build_root,
# in a mount namespace of its own (every mount goes with it), with $work at /build. Its
# environment: a fixed one, plus this host's PIP_*, proxy and CA bundle variables (with the
# bundles they name). This host's pip.conf files are not carried in (they name files of this
# host: find-links, constraints): pip there reads the root's own configuration, none, so
# PyPI; set PIP_INDEX_URL for a mirror.
in_root() {
    local -a pass=()
    local name
    while IFS= read -r name; do
        # A local directory or file index of this host (PIP_FIND_LINKS=/opt/wheels) does not
        # exist in the root: pip would only warn about it at every step.
        case "$name=${!name}" in
            PIP_CERT=*) ;;
            PIP_*=/*|PIP_*=file:*) continue ;;
        esac
        pass+=("$name=${!name}")
    done < <(compgen -e | grep -E '^(PIP_[A-Z_]+|https?_proxy|no_proxy|HTTPS?_PROXY|NO_PROXY|SSL_CERT_FILE|REQUESTS_CA_BUNDLE)$' || true)
    # The certificate bundles those name (a site's own CA, for a proxy or a mirror): the
    # host's file at the same path in the root, or pip there could not verify what pip here does.
    local -a bundles=()
    for name in PIP_CERT SSL_CERT_FILE REQUESTS_CA_BUNDLE; do
        if [ -n "${!name-}" ] && [ -f "${!name}" ]; then
            bundles+=("$(realpath "${!name}")=${!name}")
        fi
    done
    BUNDLES="${bundles[*]}" unshare --mount --propagation private --fork -- bash -euc '
        lower=$1 work=$2; shift 2
        merged=$work/root
        mkdir -p "$merged" "$work/overlay/upper" "$work/overlay/work"
        mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/overlay/upper,workdir=$work/overlay/work" "$merged"
        mount -t proc proc "$merged/proc"
        mount --rbind /dev "$merged/dev"
        mount -t tmpfs tmpfs "$merged/tmp"
        mkdir -p "$merged/build"
        mount --bind "$work" "$merged/build"
        cp /etc/resolv.conf "$merged/etc/resolv.conf"
        for bundle in $BUNDLES; do
            rm -f "$merged${bundle#*=}"
            mkdir -p "$(dirname "$merged${bundle#*=}")"
            cp "${bundle%%=*}" "$merged${bundle#*=}"
        done
        exec chroot "$merged" "$@"
    ' in-root "$build_root" "$work" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 TMPDIR=/build/tmp "${pass[@]}" "$@"
}

# ---- 1. build tools ------------------------------------------------------------------------
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
for tool in dpkg-checkbuilddeps dpkg-parsechangelog; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool missing: apt-get install dpkg-dev" >&2; exit 1; }
done
if [ -z "$suite" ]; then
    # dpkg-checkbuilddeps prints "Unmet build dependencies: a (>= 1) b" and exits 1.
    missing=$(dpkg-checkbuilddeps debian/control 2>&1 | sed -n 's/.*Unmet build dependencies: //p' \
        | sed 's/([^)]*)//g; s/|[^ ]*//g') || true
    command -v lintian >/dev/null || missing="$missing lintian"
else
    # The build tools come from the release's root; this host only makes and enters it.
    if [ "$EUID" -ne 0 ]; then
        echo "build-deb.sh: --suite $suite needs root (debootstrap, chroot, mounts)" >&2
        exit 1
    fi
    missing=
    command -v debootstrap >/dev/null || missing=debootstrap
fi
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
if [ -n "$suite" ]; then
    # Made once (minutes: debootstrap), then reused; its log: build/deb/roots.log.
    echo "build-deb.sh: the $suite build root (debootstrap once, then cached)" >&2
    build_root=$(/usr/bin/python3 -m tests.install.rootfs --cache "$root/build/deb/roots" \
        --log "$root/build/deb/roots.log" --suite "$suite" "${BUILD_ROOT_PACKAGES[@]}")
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
    if [ -z "$suite" ]; then
        . /etc/os-release && echo "dist $ID ${VERSION_ID:-$VERSION_CODENAME}"
        echo "python $(/usr/bin/python3 -VV)"
    else
        . "$build_root/etc/os-release" && echo "dist $ID ${VERSION_ID:-$VERSION_CODENAME}"
        echo "python $(chroot "$build_root" /usr/bin/python3 -VV)"
        echo "root ${build_root##*/}"
    fi
    echo "arch $arch"
    echo "builder $(sha256sum <"$0" | cut -d' ' -f1)"
) && key=$(sha256sum <<<"$key" | cut -c1-16)
cache=${AUTOSRED_DEB_CACHE:-$build/cache}${suite:+/$suite}
entry=$cache/$key

if compgen -G "$entry/autosred_*_$arch.deb" >/dev/null && [ -f "$entry/autosred.lintian" ]; then
    echo "build-deb.sh: inputs unchanged (cache $key): reusing the package built from them" >&2
else
    out=$work/out
    mkdir -p "$out" "$work/tmp"
    if [ -z "$suite" ]; then
        bash "$src/packaging/build-package.sh" "$src" "$out"
    else
        in_root bash "/build/${src#"$work"/}/packaging/build-package.sh" \
            "/build/${src#"$work"/}" /build/out
    fi
    rm -rf "$entry"
    mkdir -p "$cache"
    staged=$(mktemp -d "$cache/.new.XXXXXX")
    cp "$out"/autosred_*_"$arch".deb "$out/autosred.lintian" "$staged/"
    mv "$staged" "$entry"
    # Keep the newest three entries (the releases' caches, NAME/, are not entries).
    find "$cache" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9a-f]\{16\}' -printf '%T@ %p\n' \
        | sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
fi

# --suite: dist/NAME/, so that packages of several releases sit side by side and the host's
# dist/autosred_*_ARCH.deb stays the one `make deb` wrote.
dist=dist${suite:+/$suite}
mkdir -p "$dist"
rm -f "$dist"/autosred_*.deb "$dist/autosred.lintian"
cp "$entry"/autosred_*_"$arch".deb "$entry/autosred.lintian" "$dist/"
deb=$(compgen -G "$dist/autosred_*_$arch.deb")
echo "build-deb.sh: $root/$deb ($(du -h "$deb" | cut -f1); lintian: $dist/autosred.lintian)" >&2
