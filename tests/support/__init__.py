"""Helpers shared by the test suite: real processes, real sockets."""
