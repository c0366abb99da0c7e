"""Fixtures of the install tests: the built package, the cached Debian root.

Each test module boots its own container from a copy of the root (its fixture, `box`, is
module-scoped: the checks of one module share one installed daemon and run in file order);
the modules mark themselves as one xdist group ("install") for `--dist loadgroup`. Two clean
runs still booted two containers at once on two workers (why xdist split the group is not known),
so containers are safe side by side: each has free ports and an overlay over the shared root, and
apt, whose lock lives in the shared archives, is serialised by a host lock (installed.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.install.installed import Installed, installed
from tests.install.nspawn import missing_requirements
from tests.install.package import settled_copy
from tests.install.rootfs import (
    BASE_PACKAGES,
    RootBuildError,
    RootSpec,
    cached_root,
    host_arch,
    host_suite,
)

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "build" / "install-test"
# `make install-test SUITE=NAME` sets it: the package built for that release (make deb
# SUITE=NAME: dist/NAME/) in a root of that release. Unset or empty: this host's own
# release and the package `make deb` built here (dist/), as `make test` runs it.
SUITE_ENV = "AUTOSRED_INSTALL_TEST_SUITE"
# The base packages (rootfs.BASE_PACKAGES): everything else the package depends on (procps,
# adduser's users, ...) apt must find from the package's own Depends.
ROOT_PACKAGES = BASE_PACKAGES


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
def suite() -> str:
    return os.environ.get(SUITE_ENV) or host_suite()


@pytest.fixture(scope="session")
def package(arch: str) -> Path:
    """The package `make deb` built (make install-test and make pytest build it first)."""
    chosen = os.environ.get(SUITE_ENV)
    dist = REPO / "dist" / chosen if chosen else REPO / "dist"
    found = settled_copy(dist, arch, WORK / "package" / (chosen or "host"), timeout=120)
    if isinstance(found, str):
        pytest.fail(found)
    return found


@pytest.fixture(scope="session")
def debian_root(arch: str, suite: str) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    try:
        return cached_root(
            WORK / "roots", RootSpec(suite, arch, ROOT_PACKAGES), log=WORK / "root-build.log"
        )
    except RootBuildError as exc:
        pytest.fail(f"no {suite} root: {exc}")


@pytest.fixture(scope="session")
def apt_archives(suite: str) -> Path:
    """Bound over the containers' /var/cache/apt/archives: what apt downloads for the package's
    dependencies is downloaded once, then found here by every later run (one per release:
    apt's autoclean in one release's container would remove the others' .debs)."""
    return WORK / "apt-archives" / suite


@pytest.fixture(scope="module")
def box(debian_root: Path, package: Path, apt_archives: Path) -> Iterator[Installed]:
    """The package installed in a freshly booted container, one per test module."""
    with installed(debian_root, package, work=WORK, apt_archives=apt_archives) as box:
        yield box
