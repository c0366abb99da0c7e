"""The dropbox's HTTP routes: tus 1.0.0 at /files/, downloads, listings and share links."""
