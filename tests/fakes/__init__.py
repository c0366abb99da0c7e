"""Fakes: real servers that the tests (and acceptance tests outside the repository) talk to
over real sockets, with the same clients production uses."""
