"""The package's life on a host (issue 12, items 2 and 3): a newer build installed over a
running daemon with a stream open (drained, not cut; config and state kept), then `apt-get
remove` (stops it), `apt-get purge` (removes the state) and a reinstall (serves again).

Its own container (`box`), separate from test_service.py's: these checks change what is
installed. Times are in test_service.py's docstring.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import shutil
from pathlib import Path

import pytest

from tests.install.installed import Installed, apt_get, apt_install
from tests.install.package import field, newer_build
from tests.install.test_service import STREAM_CHUNKS, chat, long_stream

pytestmark = [pytest.mark.xdist_group("install"), pytest.mark.timeout(900)]

STATE = "/var/lib/autosred"
CONFIG = "/etc/autosred/autosred.yaml"


def digests(root: Path) -> dict[str, str]:
    """Every regular file under ``root`` (host path) -> its SHA-256."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def installed_version(box: Installed) -> str:
    result = box.container.run(["dpkg-query", "--show", "--showformat=${Version}", "autosred"])
    return result.check().stdout


def test_upgrade_over_a_running_daemon_drains_and_keeps_config_and_state(
    box: Installed, package: Path, tmp_path: Path
) -> None:
    box.ensure_running()
    chat(box, "some state first: a wake in the history")
    config = box.container.host_path(CONFIG)
    # An operator's edit of the conffile (a comment: the daemon's behaviour stays the same).
    edited = config.read_text() + "\n# edited by the operator before the upgrade\n"
    config.write_text(edited)
    state = box.container.host_path(STATE)
    key = box.container.host_path(f"{STATE}/thinking-signature.key").read_bytes()
    before = digests(state)
    assert "thinking-signature.key" in before, before

    newer = newer_build(package, tmp_path)
    shutil.copy2(newer, box.container.host_path(f"/root/{newer.name}"))
    old_pid = box.main_pid()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        started = concurrent.futures.Future[None]()
        stream = pool.submit(long_stream, box, started)
        concurrent.futures.wait([started], timeout=60)
        assert started.done(), stream.exception() if stream.done() else "no first chunk"
        apt_install(box, f"/root/{newer.name}")
        # Not cut: every chunk and the finish, though the daemon was restarted under it.
        assert len(stream.result(timeout=60)) == STREAM_CHUNKS

    assert installed_version(box) == field(newer, "Version")
    assert box.show("ActiveState", "SubState") == {"ActiveState": "active", "SubState": "running"}
    assert box.main_pid() != old_pid, "the upgrade did not restart the daemon"
    assert config.read_text() == edited
    assert box.container.host_path(f"{STATE}/thinking-signature.key").read_bytes() == key
    after = digests(state)
    assert before.keys() <= after.keys(), sorted(before.keys() - after.keys())
    assert "Simulated reply to: after the upgrade" in chat(box, "after the upgrade")


def test_remove_stops_purge_removes_state_reinstall_serves(box: Installed) -> None:
    box.ensure_running()
    container = box.container
    autosre = int(container.run(["id", "-u", "autosre"]).check().stdout)

    apt_get(box, "remove", "-y", "autosred")
    assert box.show("ActiveState")["ActiveState"] == "inactive"
    assert [p.command for p in container.processes() if p.uid == autosre] == []
    assert container.host_path(STATE).is_dir(), "remove must keep the state"
    assert container.host_path(CONFIG).is_file(), "remove must keep the conffiles"

    apt_get(box, "purge", "-y", "autosred")
    assert not container.host_path(STATE).exists()
    assert not container.host_path(CONFIG).exists()

    apt_install(box, box.deb)
    assert box.show("ActiveState", "SubState") == {"ActiveState": "active", "SubState": "running"}
    assert container.host_path(f"{STATE}/thinking-signature.key").is_file()
    assert "Simulated reply to: reinstalled" in chat(box, "reinstalled")
