"""The live view of `autosrectl watch`: the daemon's watch stream (admin.schema's WatchFrame
and RequestRecord) drawn on one terminal screen with Rich, or printed frame after frame.

Like autosred.ctl it imports nothing of autosred but admin.schema (import-linter holds it), and
it is imported only when `watch` runs (rich costs more start-up than the rest of autosrectl).
"""
