"""autosred: run coding agents on a self-hosted vLLM."""

__version__ = "0.1.0"
