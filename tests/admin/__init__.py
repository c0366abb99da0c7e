"""Tests of the admin API (autosred.admin)."""
