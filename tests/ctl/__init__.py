"""Tests of autosrectl (autosred.ctl)."""
