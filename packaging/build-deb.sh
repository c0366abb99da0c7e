#!/usr/bin/env bash
# Build the Debian package autosred_<version>_all.deb (dh + pybuild, see debian/).
#
#   packaging/build-deb.sh            build from the committed tree (git HEAD)
#   packaging/build-deb.sh --worktree build from the working tree as it is, uncommitted
#                                     changes included (ignored files left out)
#
# Needs (Debian 12 or later):
#   apt-get install --no-install-recommends build-essential debhelper dh-python \
#       pybuild-plugin-pyproject python3-all python3-setuptools python3-wheel fakeroot
# and optionally lintian (run on the result when present).
#
# The build happens in a fresh temporary copy, never in this checkout (dpkg-buildpackage
# writes debian/autosred/, .pybuild/ and files next to the source tree). The results
# (.deb, .dsc, .debian.tar.xz, .orig.tar.gz, .changes, .buildinfo) land in dist/deb/.
# Unsigned (-us -uc): sign for a real upload.
#
# The .deb installs only where apt can satisfy its python3-* floors (debian/control); on
# Debian 12 it cannot: see packaging/README.md. Not run in CI.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
from=head
case "${1:-}" in
    "") ;;
    --worktree) from=worktree ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--worktree]" >&2; exit 2 ;;
esac

missing=()
for tool in dpkg-buildpackage dpkg-parsechangelog dh dh_python3 fakeroot; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
plugin=/usr/share/dh-python/dhpython/build/plugin_pyproject.py
[ -f "$plugin" ] || missing+=("pybuild-plugin-pyproject")
if [ ${#missing[@]} -gt 0 ]; then
    echo "build-deb.sh: missing: ${missing[*]}" >&2
    echo "install: apt-get install --no-install-recommends build-essential debhelper dh-python" \
        "pybuild-plugin-pyproject python3-all python3-setuptools python3-wheel fakeroot" >&2
    exit 1
fi

cd "$root"
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${version%-*}
package_version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' autosred/__init__.py)
if [ "$upstream" != "$package_version" ]; then
    echo "build-deb.sh: debian/changelog says $upstream, autosred/__init__.py says" \
        "$package_version: add a changelog entry (dch -v $package_version-1)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/autosred-$upstream"
mkdir -p "$src"
if [ "$from" = head ]; then
    git archive --format=tar HEAD | tar -x -C "$src"
else
    # Tracked and untracked-but-not-ignored files (a tracked file deleted in the working
    # tree is skipped); symlinks such as debian/autosred.service stay symlinks.
    git ls-files -z --cached --others --exclude-standard \
        | tar --null --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null \
        | tar -x -C "$src"
fi

# 3.0 (quilt) wants the upstream tarball: the tree without debian/.
tar -C "$work" --exclude="autosred-$upstream/debian" -czf "$work/autosred_$upstream.orig.tar.gz" \
    "autosred-$upstream"

# pybuild runs "python3.X" from PATH: a pyenv shim or an activated virtualenv first in PATH
# would build against the wrong interpreter (and without python3-build). Use the system's.
(cd "$src" && env PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc)

mkdir -p "$root/dist/deb"
find "$work" -maxdepth 1 -type f \( -name '*.deb' -o -name '*.dsc' -o -name '*.tar.*' \
    -o -name '*.changes' -o -name '*.buildinfo' \) -exec cp -t "$root/dist/deb" {} +
deb="$root/dist/deb/autosred_${version}_all.deb"
echo "built $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb"
if command -v lintian >/dev/null 2>&1; then
    lintian --info "$root/dist/deb/autosred_${version}_"*.changes || true
fi
