"""The live view outlives its daemon: stopped, the view says so on its title line and keeps
the last frame; a new daemon on the same socket, and the view follows it again. SIGTERM to the
view leaves the terminal as sane as q does."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from tests.support.daemon import base_config, running_daemon, sim_recipe

from .tmux import tmux


async def test_the_view_follows_a_restarted_daemon(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe("first")])
    socket = config["admin"]["socket"]
    async with tmux(tmp_path) as term:
        async with running_daemon(tmp_path, config) as daemon:
            await term.type(
                f"clear; {sys.executable} -m autosred.ctl --socket {socket} watch "
                "--interval 0.2; echo rc=$?"
            )
            await term.until("the first daemon", lambda s: any("first" in x for x in s[1:4]))
            daemon.signal(signal.SIGTERM)
            assert await daemon.wait_exit() == 0
        screen = await term.until("the loss", lambda s: "lost the daemon" in s[0])
        assert "shutting down" in screen[0] or "reconnecting" in screen[0]
        assert any(line.split()[:2] == ["first", "stopped"] for line in screen), "kept"

        renamed = base_config(tmp_path, [sim_recipe("second")])
        async with running_daemon(tmp_path, renamed):
            screen = await term.until(
                "the second daemon's frame",
                lambda s: any(x.split()[:1] == ["second"] for x in s) and "lost" not in s[0],
            )
            assert not any(line.split()[:1] == ["first"] for line in screen)

            # SIGTERM (a closing terminal's SIGHUP likewise): out through the same door as q.
            os.kill(await term.child(), signal.SIGTERM)
            await term.until("autosrectl's exit", lambda s: "rc=143" in s)
        await term.assert_sane()
