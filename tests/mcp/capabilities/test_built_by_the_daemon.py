"""build_groups builds the capabilities group when `mcp.capabilities.enabled`, with `allow`."""

from __future__ import annotations

from pathlib import Path

from autosred.config import McpSettings
from autosred.mcp.groups import build_groups


async def test_enabled_builds_the_group_with_its_allow_list(tmp_path: Path) -> None:
    settings = McpSettings.model_validate({"capabilities": {"allow": ["scale"]}})
    groups = build_groups(settings, admin_socket=tmp_path / "admin.sock")
    try:
        (group,) = [group for group in groups if group.name == "capabilities"]
        names = {spec.name for spec in group.tools()}
        assert {"status", "models", "scale"} <= names
        assert "reload" not in names
    finally:
        for built in groups:
            await built.close()


async def test_disabled_builds_no_capabilities_group() -> None:
    settings = McpSettings.model_validate({"capabilities": {"enabled": False}})
    groups = build_groups(settings, admin_socket=None)
    try:
        assert "capabilities" not in [group.name for group in groups]
    finally:
        for built in groups:
            await built.close()
