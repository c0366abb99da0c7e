"""build_groups: a group disabled in the config is not built."""

from __future__ import annotations

from autosred.config import McpSettings
from autosred.mcp.groups import build_groups


def test_all_disabled_builds_no_group() -> None:
    settings = McpSettings.model_validate(
        {
            "fetch": {"enabled": False},
            "search": {"enabled": False},
            "capabilities": {"enabled": False},
        }
    )
    assert build_groups(settings, admin_socket=None) == []


def test_group_names_are_unique_path_segments() -> None:
    groups = build_groups(McpSettings(), admin_socket=None)
    names = [group.name for group in groups]
    assert len(set(names)) == len(names)
    assert all(name.isidentifier() and name == name.lower() for name in names)
