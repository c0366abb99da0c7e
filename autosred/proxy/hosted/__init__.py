"""Hosted tools the daemon runs itself while the model generates (issue 10): web search and
web fetch, shared by every translating surface.

``tools.py`` says what a client asked for (a ``HostedTool``: its limits and filters) and the
function the model is offered instead; ``web.py`` is the web service as these tools need it;
``executor.py`` runs one request's calls (``HostedRun``: validation, ``max_uses``, domain
filters, the counts a response reports); ``seal.py`` seals what goes back to the client
(``encrypted_content``) so the daemon can open it when the history comes back. A surface
turns the results into its own blocks or items and feeds them to the model (the Anthropic
surface: proxy/anthropic/hosted.py).
"""
