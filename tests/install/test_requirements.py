"""Where the container cannot be booted, the install tests fail and say what is missing (the
session fixture `machine_ready` turns this list into the failure): checked here as an
unprivileged user with none of the tools on PATH. The mirror choice reads apt's sources."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.install.package import _ar_archive, _ar_members, _complete_deb, _whole_ar
from tests.install.rootfs import (
    DEFAULT_MIRROR,
    MIRROR_ENV,
    RootBuildError,
    apt_mirror,
    host_suite,
    ubuntu_mirror,
)

pytestmark = [pytest.mark.xdist_group("install")]

REPO = Path(__file__).resolve().parents[2]


def test_missing_requirements_name_root_and_each_tool(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    # The system's python3: nobody may not reach the venv's interpreter (pyenv under /root);
    # the module under test needs only the standard library.
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() != 0 or setpriv is None or python is None:
        pytest.fail("this check drops to user nobody with setpriv and /usr/bin/python3: as root")
    tmp_path.chmod(0o755)
    script = (
        "import json; from tests.install.nspawn import missing_requirements; "
        "print(json.dumps(missing_requirements()))"
    )
    result = subprocess.run(
        [
            setpriv,
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            python,
            "-c",
            script,
        ],
        env={"PATH": str(tmp_path), "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    missing = json.loads(result.stdout)
    assert missing[0].startswith("root"), missing
    for tool, package in (
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
        ("nsenter", "util-linux"),
    ):
        assert any(entry.startswith(f"{tool} (Debian package {package}") for entry in missing), (
            missing
        )


def test_the_mirror_is_the_one_apt_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "debian.sources").write_text(
        "Types: deb\n"
        "# a comment\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n"
    )
    assert apt_mirror("bookworm", sources=tmp_path) == "http://mirror.example/debian"
    # A one-line sources.list with options, naming another suite: still that mirror.
    (sources / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64 signed-by=/k.gpg] http://other.example/debian trixie main\n"
    )
    assert apt_mirror("bookworm", sources=tmp_path) == "http://other.example/debian"
    (tmp_path / "sources.list").unlink()
    assert apt_mirror("bookworm", sources=tmp_path) == DEFAULT_MIRROR
    monkeypatch.setenv(MIRROR_ENV, "http://override.example/debian")
    assert apt_mirror("bookworm", sources=tmp_path) == "http://override.example/debian"


def test_ubuntu_roots_come_from_ubuntus_archive_or_its_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    assert ubuntu_mirror("amd64") == "http://archive.ubuntu.com/ubuntu"
    assert ubuntu_mirror("arm64") == "http://ports.ubuntu.com/ubuntu-ports"
    monkeypatch.setenv(MIRROR_ENV, "http://override.example/ubuntu")
    assert ubuntu_mirror("arm64") == "http://override.example/ubuntu"


def test_the_default_release_is_this_hosts(tmp_path: Path) -> None:
    """make install-test without SUITE: the release the host's `make deb` built for."""
    os_release = tmp_path / "os-release"
    os_release.write_text('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n')
    assert host_suite(os_release) == "trixie"
    os_release.write_text('ID=debian\nVERSION_CODENAME=""\n')
    with pytest.raises(RootBuildError, match="no VERSION_CODENAME"):
        host_suite(os_release)


@given(
    st.lists(
        st.tuples(st.from_regex(r"[a-z][a-z.\-]{0,14}", fullmatch=True), st.binary(max_size=64)),
        min_size=1,
        max_size=4,
    ),
    st.data(),
)
def test_ar_members_round_trip_and_truncation_is_seen(
    members: list[tuple[str, bytes]], data: st.DataObject
) -> None:
    """The .deb (ar) reader behind the upgrade test's newer build and the settled copy."""
    archive = _ar_archive(members)
    assert _ar_members(archive) == members
    assert _whole_ar(archive)
    cut = data.draw(st.integers(min_value=0, max_value=len(archive) - 1))
    # A cut between two members leaves a whole archive of the first ones (so a package
    # must also have its data member, see _complete_deb); any other cut is seen.
    if _whole_ar(archive[:cut]):
        kept = _ar_members(archive[:cut])
        assert kept == members[: len(kept)] and len(kept) < len(members)


def test_a_package_needs_its_three_members() -> None:
    whole = [("debian-binary", b"2.0\n"), ("control.tar.gz", b"c"), ("data.tar.xz", b"d")]
    assert _complete_deb(_ar_archive(whole))
    assert not _complete_deb(_ar_archive(whole[:2]))
    assert not _complete_deb(_ar_archive(whole)[:-1])
