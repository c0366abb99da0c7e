"""The .deb under test (what `make deb` wrote) and a newer build of it for the upgrade test."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from pathlib import Path


def built_package(dist: Path, arch: str) -> Path | str:
    """The one ``dist/autosred_*_<arch>.deb``, or why there is not exactly one."""
    found = sorted(dist.glob(f"autosred_*_{arch}.deb"))
    if len(found) == 1:
        return found[0]
    if not found:
        return f"no {dist}/autosred_*_{arch}.deb: `make install-test` builds it first (make deb)"
    return f"several packages in {dist}: {', '.join(path.name for path in found)}"


def settled_copy(dist: Path, arch: str, into: Path, *, timeout: float) -> Path | str:
    """A complete copy of the built package in ``into``, or why there is none.

    tests/packaging/test_deb.py runs `make deb` in the same test run: it deletes dist's
    package, and build-deb.sh copies it back (not atomically). So wait, within ``timeout``,
    for exactly one package that is a whole ar archive, and keep a copy the tests own.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = built_package(dist, arch)
        if isinstance(found, Path):
            with contextlib.suppress(FileNotFoundError):
                data = found.read_bytes()
                if _complete_deb(data):
                    into.mkdir(parents=True, exist_ok=True)
                    for old in into.glob("*.deb"):
                        old.unlink()
                    copy = into / found.name
                    copy.write_bytes(data)
                    return copy
            found = f"{found} is incomplete (still being written?)"
        if time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def newer_build(deb: Path, workdir: Path, *, suffix: str = "+upgradetest1") -> Path:
    """A copy of ``deb`` whose version sorts after the original's, its files byte for byte
    the same: what an operator installs when a newer build of the same release comes out.

    Only the control member is rebuilt; the data member (hundreds of MiB: the virtualenv) is
    copied as it is, so this takes a moment where `dpkg-deb --build` would recompress it.
    """
    members = _ar_members(deb.read_bytes())
    names = [name for name, _ in members]
    assert names[0] == "debian-binary" and names[1].startswith("control.tar"), names
    control_dir = workdir / "control"
    shutil.rmtree(control_dir, ignore_errors=True)
    control_dir.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "--control", str(deb), str(control_dir)], check=True)
    control = control_dir / "control"
    old = field(deb, "Version")
    new = old + suffix
    text, count = re.subn(r"(?m)^Version: .*$", f"Version: {new}", control.read_text())
    assert count == 1, control.read_text()
    control.write_text(text)
    subprocess.run(["dpkg", "--compare-versions", new, "gt", old], check=True)
    # control.tar.gz: every dpkg reads it; members owned by root as dpkg-deb makes them.
    archive = workdir / "control.tar.gz"
    subprocess.run(
        [
            "tar",
            "--create",
            "--gzip",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            f"--file={archive}",
            "--directory",
            str(control_dir),
            ".",
        ],
        check=True,
    )
    rebuilt = [members[0], ("control.tar.gz", archive.read_bytes()), *members[2:]]
    out = workdir / deb.name.replace(f"_{old}_", f"_{new}_")
    out.write_bytes(_ar_archive(rebuilt))
    shutil.rmtree(control_dir)
    archive.unlink()
    assert field(out, "Version") == new
    return out


# A .deb is an ar(5) archive: "!<arch>\n", then per member a 60-byte header (name/ 16,
# mtime 12, uid 6, gid 6, mode 8, size 10, "`\n") and the data, padded to an even length.
_AR_MAGIC = b"!<arch>\n"


def _ar_members(data: bytes) -> list[tuple[str, bytes]]:
    assert data.startswith(_AR_MAGIC), "not an ar archive"
    members = []
    offset = len(_AR_MAGIC)
    while offset < len(data):
        header = data[offset : offset + 60]
        assert header[58:60] == b"`\n", f"bad ar header at {offset}"
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        start = offset + 60
        body = data[start : start + size]
        assert len(body) == size, f"{name}: {len(body)} of {size} bytes"
        members.append((name, body))
        offset = start + size + (size % 2)
    return members


def _whole_ar(data: bytes) -> bool:
    """Whether ``data`` is an ar archive whose last member ends where the data does."""
    try:
        members = _ar_members(data)
    except (AssertionError, ValueError, UnicodeDecodeError):
        return False
    end = len(_AR_MAGIC) + sum(60 + len(body) + len(body) % 2 for _, body in members)
    return bool(members) and end == len(data)


def _complete_deb(data: bytes) -> bool:
    """A whole ar archive holding debian-binary, the control and the data member."""
    if not _whole_ar(data):
        return False
    names = [name for name, _ in _ar_members(data)]
    return (
        len(names) == 3
        and names[0] == "debian-binary"
        and names[1].startswith("control.tar")
        and names[2].startswith("data.tar")
    )


def _ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    parts = [_AR_MAGIC]
    for name, body in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{len(body):<10}`\n"
        assert len(header) == 60, header
        parts.append(header.encode())
        parts.append(body)
        if len(body) % 2:
            parts.append(b"\n")
    return b"".join(parts)
