#!/usr/bin/env bash
# Build the autosred wheel (and sdist) into dist/.
#
#   packaging/build-wheel.sh               wheel + sdist of the committed tree (git HEAD)
#   packaging/build-wheel.sh --worktree    the working tree as it is (ignored files left out)
#   packaging/build-wheel.sh --wheelhouse  also put a wheel of every runtime dependency,
#                                          pinned by constraints.txt, in dist/wheelhouse/
#
# The wheelhouse is how autosred installs on a host whose distribution lacks its
# dependencies (Debian 12: see packaging/README.md), with no index needed at install time:
#   python3 -m venv /opt/autosred
#   /opt/autosred/bin/pip install --no-index --find-links dist/wheelhouse autosred
#
# Uses the project's .venv when present (make creates it), else python3; the build runs in
# a temporary copy so that this checkout gets no build/ or *.egg-info. The build backend
# (setuptools, per pyproject.toml) is fetched from the package index under PEP 517 build
# isolation. Not run in CI.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
from=head
wheelhouse=no
for arg in "$@"; do
    case "$arg" in
        --worktree) from=worktree ;;
        --wheelhouse) wheelhouse=yes ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--worktree] [--wheelhouse]" >&2; exit 2 ;;
    esac
done

python=python3
[ -x "$root/.venv/bin/python" ] && python="$root/.venv/bin/python"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/src"
mkdir -p "$src"
cd "$root"
if [ "$from" = head ]; then
    git archive --format=tar HEAD | tar -x -C "$src"
else
    git ls-files -z --cached --others --exclude-standard \
        | tar --null --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null \
        | tar -x -C "$src"
fi

mkdir -p "$root/dist"
if "$python" -c 'import build' 2>/dev/null; then
    "$python" -m build --sdist --wheel --outdir "$root/dist" "$src"
else
    # pip builds the wheel through the same PEP 517 backend; no sdist without `build`.
    echo "build-wheel.sh: python -m build not installed: building the wheel only" >&2
    "$python" -m pip wheel --no-deps --wheel-dir "$root/dist" "$src"
fi

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$src/autosred/__init__.py")
wheel="$root/dist/autosred-$version-py3-none-any.whl"
test -f "$wheel"
# The wheel must carry what the daemon loads at run time besides code.
"$python" - "$wheel" <<'PY'
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
for required in ("autosred/__init__.py", "autosred/py.typed"):
    if required not in names:
        sys.exit(f"build-wheel.sh: {required} missing from {sys.argv[1]}")
entry_points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
if not entry_points:
    sys.exit("build-wheel.sh: no entry_points.txt (console scripts) in the wheel")
PY
echo "built $wheel"

if [ "$wheelhouse" = yes ]; then
    mkdir -p "$root/dist/wheelhouse"
    cp "$wheel" "$root/dist/wheelhouse/"
    # Runtime dependencies only (not the [test] extra), at the versions CI tests with.
    "$python" -m pip wheel --wheel-dir "$root/dist/wheelhouse" \
        --constraint "$src/constraints.txt" "$wheel"
    count=$(find "$root/dist/wheelhouse" -name '*.whl' | wc -l)
    echo "wheelhouse: $root/dist/wheelhouse ($count wheels)"
fi
