"""A minimal Debian root for the install tests, made with debootstrap and cached.

The root is built once per (suite, architecture, package list, recipe version) under
``build/install-test/roots/`` and reused while that key holds: a warm run copies it (each
container boots from its own copy, so the cached root is never written to). It is built in a
temporary directory and renamed into place, under a lock, so an interrupted or concurrent
build never leaves a half-made root that a later run would trust.

The mirror is the one this machine's apt already uses for Debian (so the build works wherever
apt works), else deb.debian.org; ``AUTOSRED_INSTALL_TEST_MIRROR`` overrides both. An Ubuntu
release (UBUNTU_SUITES) comes from Ubuntu's archive instead, checked with its archive key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MIRROR_ENV = "AUTOSRED_INSTALL_TEST_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# What debootstrap puts in every root besides its minimal base: systemd as PID 1 and what
# `systemctl` needs, and python3, which any stock Debian install has (installing it in each
# test container would byte-compile its standard library every time: about a minute).
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3")
# Ubuntu's releases this module can make a root of (from Ubuntu's archive, main and universe).
UBUNTU_SUITES = frozenset({"jammy", "noble", "plucky", "questing"})
UBUNTU_KEYRING = "/usr/share/keyrings/ubuntu-archive-keyring.gpg"
DEBOOTSTRAP_SCRIPTS = "/usr/share/debootstrap/scripts"
# Bump when the way a root is made changes (masked units, apt lists, ...): old roots are then
# not reused.
RECIPE_VERSION = 1

# Units a test container has no use for and that would act behind the tests' backs: the apt
# timers can take the dpkg lock in the middle of an `apt install`, getty waits on a console
# nobody reads.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "console-getty.service",
    "getty@tty1.service",
    "systemd-pstore.service",
)


@dataclass(frozen=True)
class RootSpec:
    suite: str
    arch: str
    packages: tuple[str, ...]
    # Installed with apt-get once debootstrap is done: debootstrap's own resolver follows no
    # virtual package (Debian 13's lintian needs perl-openssl-abi-3 through one), apt's does.
    apt_packages: tuple[str, ...] = ()

    def key(self) -> str:
        text = f"{RECIPE_VERSION} {self.suite} {self.arch} {' '.join(sorted(self.packages))}"
        if self.apt_packages:  # (absent from the keys of roots made before it existed)
            text += f" apt {' '.join(sorted(self.apt_packages))}"
        return f"{self.suite}-{self.arch}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def host_arch() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def host_suite(os_release: Path = Path("/etc/os-release")) -> str:
    """This host's release codename (bookworm, trixie ...): the release `make deb` builds for."""
    for line in os_release.read_text().splitlines():
        name, _, value = line.partition("=")
        if name == "VERSION_CODENAME" and value.strip('"'):
            return value.strip('"')
    raise RootBuildError(f"{os_release} names no VERSION_CODENAME")


def apt_mirror(suite: str, *, sources: Path = Path("/etc/apt")) -> str:
    """The first Debian mirror this machine's apt lists for ``suite`` (or any suite when none
    names it), else deb.debian.org."""
    override = os.environ.get(MIRROR_ENV)
    if override:
        return override
    found: list[tuple[str, list[str]]] = []
    for path in sorted(sources.glob("sources.list.d/*.sources")):
        found.extend(_deb822_sources(path.read_text(errors="replace")))
    legacy = [sources / "sources.list", *sorted(sources.glob("sources.list.d/*.list"))]
    for path in legacy:
        if path.is_file():
            found.extend(_one_line_sources(path.read_text(errors="replace")))
    debian = [(uri, suites) for uri, suites in found if uri.rstrip("/").endswith("/debian")]
    for uri, suites in debian:
        if suite in suites:
            return uri
    return debian[0][0] if debian else DEFAULT_MIRROR


def _deb822_sources(text: str) -> Iterator[tuple[str, list[str]]]:
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        suites = fields.get("suites", "").split()
        for uri in fields.get("uris", "").split():
            yield uri, suites


def _one_line_sources(text: str) -> Iterator[tuple[str, list[str]]]:
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 3 or words[0] != "deb":
            continue
        if words[1].startswith("["):  # options: deb [arch=amd64 signed-by=...] URI suite ...
            while words and not words[0].endswith("]"):
                words.pop(0)
            words.pop(0)
            words.insert(0, "deb")
        if len(words) >= 3:
            yield words[1], [words[2]]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RootBuildError(Exception):
    pass


def cached_root(cache: Path, spec: RootSpec, *, log: Path) -> Path:
    """The cached root for ``spec`` under ``cache``, built first when missing."""
    root = cache / spec.key()
    with _locked(cache / ".lock"):
        if (root / ".complete").is_file():
            return root
        building = cache / f".building-{spec.key()}"
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        _debootstrap(building, spec, log=log)
        _prepare(building, spec, log=log)
        (building / ".complete").write_text(f"{spec}\n")
        building.rename(root)
    return root


def _run_logged(argv: list[str], *, log: Path, what: str, timeout: float) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        try:
            result = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RootBuildError(f"{what}: no result after {timeout:.0f} s (log: {log})") from exc
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RootBuildError(f"{what} exited {result.returncode} (log: {log}):\n{tail}")


def _debootstrap(target: Path, spec: RootSpec, *, log: Path) -> None:
    ubuntu = spec.suite in UBUNTU_SUITES
    mirror = ubuntu_mirror(spec.arch) if ubuntu else apt_mirror(spec.suite)
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--arch={spec.arch}",
        f"--include={','.join(spec.packages)}",
    ]
    if ubuntu:
        argv += ["--components=main,universe", f"--keyring={_ubuntu_keyring()}"]
    argv += [spec.suite, str(target), mirror]
    script = Path(DEBOOTSTRAP_SCRIPTS) / spec.suite
    if ubuntu and not script.exists():
        # An Ubuntu release newer than this debootstrap (Debian 12's knows none after
        # lunar): every Ubuntu script of debootstrap is a link to gutsy's.
        argv.append(str(Path(DEBOOTSTRAP_SCRIPTS) / "gutsy"))
    _run_logged(argv, log=log, what=f"debootstrap {spec.suite} from {mirror}", timeout=900)


def ubuntu_mirror(arch: str) -> str:
    """Ubuntu's archive (amd64, i386) or its ports archive (arm64 ...), unless overridden."""
    override = os.environ.get(MIRROR_ENV)
    if override:
        return override
    if arch in ("amd64", "i386"):
        return "http://archive.ubuntu.com/ubuntu"
    return "http://ports.ubuntu.com/ubuntu-ports"


def _ubuntu_keyring() -> Path:
    """Ubuntu's archive key, which debootstrap checks the release files with: from the Debian
    package ubuntu-keyring (Debian 13 has it; Debian 12 does not, and installs Debian 13's
    with dpkg -i: it is a keyring and nothing else)."""
    keyring = Path(UBUNTU_KEYRING)
    if not keyring.is_file():
        raise RootBuildError(
            f"{keyring} missing: install the Debian package ubuntu-keyring (on Debian 12, "
            "Debian 13's, with dpkg -i: packaging/README.md says how)"
        )
    return keyring


def _prepare(root: Path, spec: RootSpec, *, log: Path) -> None:
    """What every container wants and debootstrap leaves out: the masked units, apt's
    package lists (so an install needs only a quick `apt-get update` that finds them current),
    no downloaded .debs kept in the root itself."""
    system = root / "etc" / "systemd" / "system"
    for unit in MASKED_UNITS:
        for wanted in system.glob(f"*.wants/{unit}"):
            wanted.unlink()
        masked = system / unit
        masked.unlink(missing_ok=True)
        masked.symlink_to("/dev/null")
    # systemd writes a fresh machine id at each boot when the file is empty: copies of one
    # root must not share one.
    (root / "etc" / "machine-id").write_text("")
    _run_logged(
        ["chroot", str(root), "apt-get", "-q", "update"],
        log=log,
        what="apt-get update",
        timeout=600,
    )
    if spec.apt_packages:
        _run_logged(
            [
                "chroot",
                str(root),
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "-q",
                "-y",
                "--no-install-recommends",
                "install",
                *spec.apt_packages,
            ],
            log=log,
            what=f"apt-get install {' '.join(spec.apt_packages)}",
            timeout=1200,
        )
    _run_logged(
        ["chroot", str(root), "apt-get", "clean"], log=log, what="apt-get clean", timeout=60
    )


def main(argv: list[str] | None = None) -> int:
    """`python3 -m tests.install.rootfs --cache DIR --log FILE --suite NAME PACKAGE...`: the
    cached root's path on stdout, built first when missing: a minimal root (debootstrap, with
    the packages the install tests' roots have) in which apt-get installs PACKAGE...
    packaging/build-deb.sh --suite makes its build roots with it (the same debootstrap, cache
    and lock as the tests')."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python3 -m tests.install.rootfs")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--suite", required=True)
    parser.add_argument("packages", nargs="+")
    args = parser.parse_args(argv)
    try:
        root = cached_root(
            args.cache.resolve(),
            RootSpec(args.suite, host_arch(), BASE_PACKAGES, tuple(args.packages)),
            log=args.log.resolve(),
        )
    except RootBuildError as exc:
        print(f"no {args.suite} root: {exc}", file=sys.stderr)
        return 1
    print(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
