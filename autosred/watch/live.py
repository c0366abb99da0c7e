"""The live view on a terminal: one loop waiting on the keyboard and the feed together.

Nothing redraws on a timer: the screen changes when a frame or a key arrives (or the
terminal is resized), so an idle view costs nothing between the daemon's frames. Rich's
alternate screen keeps the shell's scrollback as it was; the keyboard's settings, the cursor
and the screen are restored on every way out (q, Ctrl-C, SIGTERM, SIGHUP, an error).
"""

from __future__ import annotations

import selectors
from contextlib import ExitStack

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from autosred.admin.schema import WatchFrame
from autosred.watch.feed import Feed, Update
from autosred.watch.screen import KEYS, render
from autosred.watch.state import ViewState, with_request
from autosred.watch.terminal import Keyboard, Signals

QUIT = frozenset("qQ")
NEXT_MODEL = frozenset("mM")
TOGGLE_LOG = frozenset("lL")


class LiveView:
    """What the screen shows: the latest frame, the viewer's choices, a note."""

    def __init__(self) -> None:
        self.frame: WatchFrame | None = None
        self.state = ViewState()
        self.note: str | None = None

    def apply(self, update: Update) -> None:
        if update.frame is not None:
            self.frame = update.frame
        if self.frame is not None:
            for record in update.requests:
                self.frame = with_request(self.frame, record)
        self.note = update.note

    def press(self, keys: str) -> bool:
        """Apply the keys; False once q was pressed."""
        for key in keys:
            if key in QUIT:
                return False
            if key in NEXT_MODEL:
                names = [m.name for m in self.frame.models] if self.frame is not None else []
                self.state = self.state.cycle(names)
            elif key in TOGGLE_LOG:
                self.state = self.state.toggle_log()
        return True

    def draw(self, console: Console) -> RenderableType:
        if self.frame is None:
            waiting = Text("autosred: waiting for the first frame…", style="bold")
            waiting.append(f"  {self.note or ''}  {KEYS}", style="dim")
            return waiting
        width, height = console.size
        return render(self.frame, self.state, width=width, height=height, note=self.note)


def run_live(feed: Feed, *, console: Console, keys_fd: int | None) -> int:
    """Show the feed until q (exit 0); Ctrl-C raises KeyboardInterrupt and a SIGTERM or SIGHUP
    raises terminal.Stopped, both after the terminal is restored."""
    view = LiveView()
    with ExitStack() as stack, selectors.DefaultSelector() as selector:
        # Entered in this order, left in the reverse: the screen goes, then the signals'
        # handlers and the keyboard's settings come back, then the feed stops.
        stack.callback(feed.close)
        selector.register(feed.fileno(), selectors.EVENT_READ)
        keyboard = None
        if keys_fd is not None:
            keyboard = stack.enter_context(Keyboard(keys_fd))
            selector.register(keys_fd, selectors.EVENT_READ)
        stack.enter_context(Signals(on_resize=feed.poke))
        live = stack.enter_context(
            Live(
                console=console,
                screen=True,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
        )
        feed.start()
        live.update(view.draw(console), refresh=True)
        while True:
            for key, _ in selector.select():
                if keyboard is not None and key.fd == keyboard.fd:
                    keys = keyboard.keys()
                    if keys is None:  # no keyboard any more: the view goes on without one
                        selector.unregister(keyboard.fd)
                        keyboard = None
                    elif not view.press(keys):
                        return 0
                else:
                    view.apply(feed.take())
            live.update(view.draw(console), refresh=True)
