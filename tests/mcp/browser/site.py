"""The browser tools' test site, a real aiohttp server on loopback: a login form (a cookie
session), a single-page app with client-side routing (history.pushState, no request per
route), an element that appears late, pages that lead to a refused address (a redirect, a
sub-request, a script's fetch), and a tall page to scroll."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION_COOKIE = "sid"
USER, PASSWORD = "alice", "wonderland"

LOGIN = """<!doctype html><html><head><title>Sign in</title></head><body>
<h1>Dashboard login</h1>
<form method="post" action="/login">
  <label>User name <input name="user" autocomplete="off"></label>
  <label>Password <input name="password" type="password"></label>
  <label>Team <select name="team"><option value="ops">Operations</option>
    <option value="dev">Development</option></select></label>
  <button type="submit">Sign in</button>
</form>
<p>{error}</p>
</body></html>"""

ACCOUNT = """<!doctype html><html><head><title>Account</title></head><body>
<h1>Welcome, {user}</h1><p>Team: {team}</p><a href="/app/">Open the app</a>
</body></html>"""

SPA = """<!doctype html><html><head><title>Reports app</title></head><body>
<nav><a href="/app/" data-route="home">Home</a>
<a href="/app/reports" data-route="reports">Reports</a></nav>
<main id="view"></main>
<script>
const views = {
  home: '<h2>Home</h2><p>Pick a report.</p>',
  reports: '<h2>Reports</h2><p>Quarterly report: 42 widgets shipped</p>',
};
const here = () => location.pathname.endsWith('reports') ? 'reports' : 'home';
function show(route) { document.getElementById('view').innerHTML = views[route]; }
document.querySelectorAll('a[data-route]').forEach(link => link.addEventListener('click', event => {
  event.preventDefault();
  history.pushState({}, '', link.href);
  show(link.dataset.route);
}));
window.addEventListener('popstate', () => show(here()));
show(here());
</script></body></html>"""

SLOW = """<!doctype html><html><head><title>Slow</title></head><body>
<h1>Loading data</h1><div id="slot"></div>
<script>
setTimeout(() => {{ document.getElementById('slot').innerHTML =
  '<p>Data loaded: 7 rows</p><button>Export</button>'; }}, {delay_ms});
</script></body></html>"""

LEAKY = """<!doctype html><html><head><title>Leaky</title></head><body>
<h1>A page that reaches for the daemon</h1>
<img src="{target}" alt="metrics">
<script>fetch('{target}').then(r => r.text()).then(t => {{
  document.body.insertAdjacentHTML('beforeend', '<p>LEAKED ' + t.length + '</p>'); }},
  () => document.body.insertAdjacentHTML('beforeend', '<p>fetch failed</p>'));</script>
</body></html>"""

TALL = """<!doctype html><html><head><title>Tall</title></head><body style="margin:0">
<div style="height:3000px;background:linear-gradient(#fff,#39f)">top</div>
<button id="bottom">Bottom button</button>
</body></html>"""


@dataclass
class BrowserSite:
    base: str
    hits: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return self.base + path


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


@asynccontextmanager
async def running_browser_site(
    *, refused_target: str, host_name: str = "localhost", slow_ms: int = 1500
) -> AsyncIterator[BrowserSite]:
    """The site on 127.0.0.1, named ``http://{host_name}:{port}``; ``refused_target``: the
    URL its redirect and its leaky page reach for (the daemon's metrics)."""
    site = BrowserSite("")

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        site.hits[request.path] += 1
        return await handler(request)

    async def login_form(request: web.Request) -> web.Response:
        return _html(LOGIN.format(error=""))

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("user") != USER or form.get("password") != PASSWORD:
            return _html(LOGIN.format(error="Wrong user name or password."))
        response = web.HTTPFound("/account")
        response.set_cookie(SESSION_COOKIE, f"{USER}:{form.get('team', '')}", httponly=True)
        raise response

    async def account(request: web.Request) -> web.Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is None:
            raise web.HTTPFound("/login")
        user, _, team = cookie.partition(":")
        return _html(ACCOUNT.format(user=user, team=team))

    async def spa(request: web.Request) -> web.Response:
        return _html(SPA)

    async def slow(request: web.Request) -> web.Response:
        return _html(SLOW.format(delay_ms=slow_ms))

    async def leave(request: web.Request) -> web.Response:
        raise web.HTTPFound(refused_target)

    async def leaky(request: web.Request) -> web.Response:
        return _html(LEAKY.format(target=refused_target))

    async def tall(request: web.Request) -> web.Response:
        return _html(TALL)

    app = web.Application(middlewares=[count])
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_get("/account", account)
    app.router.add_get("/app/", spa)
    app.router.add_get("/app/reports", spa)
    app.router.add_get("/slow", slow)
    app.router.add_get("/leave", leave)
    app.router.add_get("/leaky", leaky)
    app.router.add_get("/tall", tall)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    (address, *_rest) = runner.addresses
    site.base = f"http://{host_name}:{int(address[1])}"
    try:
        yield site
    finally:
        await runner.cleanup()
