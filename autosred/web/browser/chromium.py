"""How the daemon starts or reaches a Chromium: a local headless child, or a CDP endpoint.

The DevTools client is Playwright's Python package (its Node driver speaks CDP over a pipe
to a child it launches, or over a WebSocket to ``connect_over_cdp``). Chosen over a small
CDP client of our own because the tools stand on three things it does well and would be
most of the work to write: the accessibility snapshot with stable element refs
(``page.aria_snapshot(mode="ai")``, the one Playwright's MCP server gives models, with
``get_by_ref``), actions that wait until an element is visible, stable and enabled, and
per-context proxies. Measured on this project's 2-core machine, shared, at load 10-14
(Chromium 156, Playwright 1.65; ``python -m bench.browser``, the three ways taking turns on
one browser): the driver starts in 0.3 s idle (2.2-2.5 s at that load), Chromium in 0.3-0.75
s, a context and page in 0.3 s; a cold wake, first ``navigate`` to its snapshot, 2.4-8 s at
that load. Per action, medians: Playwright's AI snapshot of a 100-element page 13 ms against
raw CDP's ``Accessibility.getFullAXTree`` 15 ms (which is not yet text with refs), a click
51 ms against 24 ms for raw mouse events (the difference is Playwright waiting until the
element is visible, stable and enabled, which a model's click needs), a screenshot 57 ms
against 46 ms; a bare round trip (``evaluate("1+1")``) costs the driver ~5 ms over raw CDP's
0.3-0.7 ms. The tool's handler adds 6 ms to a snapshot (the title, the text) and 16 ms to a
click (the ref's presence check, the settle, the new snapshot's title); the MCP transport
another 6-11 ms.

The local child: ``launch_persistent_context`` so that its profile lives in the daemon's own
directory under state_dir (a plain ``launch`` puts it in the driver's temporary directory),
with the flags below. Chromium's sandbox stays on, except as root, where Chromium refuses to
start with it (the packaged daemon runs as the user autosred; a developer's root shell or a
container is where ``--no-sandbox`` is used, and logged).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

# What a headless browser serving tools needs no part of: no GPU process, no first-run
# screens, no traffic of its own (component updates, sync, field trials, safe-browsing
# lists), no QUIC (which would not go through the guard proxy), no WebRTC UDP outside the
# proxy. And no DNS of its own (``resolver_rules``).
FLAGS = (
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-quic",
    "--metrics-recording-only",
    "--password-store=basic",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--no-pings",
    "--disable-features=AutofillServerCommunication,OptimizationHints,MediaRouter,"
    "Translate,InterestFeedContentSuggestions,CertificateTransparencyComponentUpdater",
)


@dataclass(frozen=True)
class LaunchPlan:
    """The local child's executable and whether its sandbox is on."""

    executable: str
    sandbox: bool
    proxy_hosts: tuple[str, ...]
    """The addresses the guard proxies listen on."""

    @property
    def args(self) -> list[str]:
        return [*FLAGS, resolver_rules(self.proxy_hosts)]


def resolver_rules(proxy_hosts: tuple[str, ...]) -> str:
    """Every name resolved by the guard proxy, none by the browser: the rule maps each name
    to "not found" for Chromium itself, except the proxies' own addresses (which the rule
    would otherwise catch too, literals as they are)."""
    excluded = "".join(f", EXCLUDE {host}" for host in dict.fromkeys(proxy_hosts))
    return f"--host-resolver-rules=MAP * ~NOTFOUND{excluded}"


class ChromiumMissing(Exception):
    """``mcp.browser.launch`` names no executable; the message says what to install."""


def launch_plan(
    launch: str, *, proxy_hosts: tuple[str, ...], euid: int | None = None
) -> LaunchPlan:
    """Where ``launch`` (a path, or a name looked up in PATH) is, and the sandbox setting
    for the user the daemon runs as (off for root only: Chromium will not start otherwise)."""
    found = launch if os.sep in launch else shutil.which(launch)
    if found is None or not os.access(found, os.X_OK):
        raise ChromiumMissing(
            f"mcp.browser.launch is {launch!r}, which is not an executable here; install "
            "Chromium (Debian: apt-get install chromium) or set mcp.browser.launch to its "
            "path, or mcp.browser.cdp_url to a running browser."
        )
    uid = os.geteuid() if euid is None else euid
    return LaunchPlan(executable=found, sandbox=uid != 0, proxy_hosts=proxy_hosts)
