"""The old home of the fake k3s, kept as an alias: it now lives in ``fake_k3s/`` at the top of
the repository (see fake_k3s/README.md). ``python -m tests.fakes.cluster`` is part of the
contract for acceptance tests outside the repository and runs ``python -m fake_k3s``."""
