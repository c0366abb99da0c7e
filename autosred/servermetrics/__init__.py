"""The model servers' own metrics (vLLM's ``/metrics``), read by the daemon.

``parse`` turns the exposition text into families (vLLM's only), ``figures`` derives what the
watch view shows from successive readings, ``reader`` fetches them (only for running models,
with a short timeout, shared between watchers and scrapes), and ``reexport`` puts the series on
the daemon's own ``/metrics`` with a ``model`` label.
"""
