"""Fixtures of the install tests: the built package, the cached Debian root.

Each test module boots its own container from a copy of the root (its fixture, `box`, is
module-scoped: the checks of one module share one installed daemon and run in file order);
the modules mark themselves as one xdist group ("install") for `--dist loadgroup`. Two clean
runs still booted two containers at once on two workers (why xdist split the group is not known),
so containers are safe side by side: each has free ports and an overlay over the shared root, and
apt, whose lock lives in the shared archives, is serialised by a host lock (installed.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.install.installed import Installed, installed
from tests.install.nspawn import missing_requirements
from tests.install.package import settled_copy
from tests.install.rootfs import RootBuildError, RootSpec, cached_root, host_arch

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "build" / "install-test"
SUITE = "bookworm"
# systemd as PID 1 and what `systemctl` needs (apt comes with every root), and python3, which
# any stock Debian install has: installing it in each container would byte-compile its
# standard library every time (about a minute here). Everything else the package depends on
# (procps, adduser's users, ...) apt must find from the package's own Depends.
ROOT_PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3")


@pytest.fixture(scope="session")
def machine_ready() -> None:
    """Fails (never skips) when this machine cannot boot the container, saying what is
    missing: CI must run these checks."""
    missing = missing_requirements()
    if missing:
        pytest.fail(
            "cannot boot a Debian container for the install tests; missing: " + "; ".join(missing)
        )


@pytest.fixture(scope="session")
def arch(machine_ready: None) -> str:
    return host_arch()


@pytest.fixture(scope="session")
def package(arch: str) -> Path:
    """The package `make deb` built (make install-test and make pytest build it first)."""
    found = settled_copy(REPO / "dist", arch, WORK / "package", timeout=120)
    if isinstance(found, str):
        pytest.fail(found)
    return found


@pytest.fixture(scope="session")
def debian_root(arch: str) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    try:
        return cached_root(
            WORK / "roots", RootSpec(SUITE, arch, ROOT_PACKAGES), log=WORK / "root-build.log"
        )
    except RootBuildError as exc:
        pytest.fail(f"no Debian {SUITE} root: {exc}")


@pytest.fixture(scope="session")
def apt_archives() -> Path:
    """Bound over the containers' /var/cache/apt/archives: what apt downloads for the package's
    dependencies is downloaded once, then found here by every later run."""
    return WORK / "apt-archives"


@pytest.fixture(scope="module")
def box(debian_root: Path, package: Path, apt_archives: Path) -> Iterator[Installed]:
    """The package installed in a freshly booted container, one per test module."""
    with installed(debian_root, package, work=WORK, apt_archives=apt_archives) as box:
        yield box
