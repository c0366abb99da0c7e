"""Configuration: the annotated file, the demo, errors that name key and file, env overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic.fields import FieldInfo

from autosred.config import ConfigError, Section, Settings, load_settings, parse_duration
from autosred.daemon.main import embedded_demo_config
from autosred.recipes import Recipe, load_catalog

ROOT = Path(__file__).resolve().parents[2]
ANNOTATED = ROOT / "etc" / "autosred" / "autosred.yaml"
DEMO = ROOT / "etc" / "autosred" / "demo.yaml"


def autosred(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autosred.daemon", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_annotated_config_loads_and_states_the_defaults() -> None:
    loaded = load_settings(ANNOTATED)
    assert loaded == Settings()


def test_annotated_config_documents_every_key() -> None:
    text = ANNOTATED.read_text()
    data = yaml.safe_load(text)
    for name in Settings.model_fields:
        assert name in data, f"top-level key {name} is not in {ANNOTATED.name}"
    _documents_sections(Settings.model_fields, data, prefix="")
    for key in Recipe.model_fields:
        assert f"#   {key}" in text or f", {key}" in text, f"recipe key {key} is not documented"


def _documents_sections(fields: dict[str, FieldInfo], data: dict[str, Any], *, prefix: str) -> None:
    """Every key of every section, nested ones included (``mcp.fetch.allow``), is in ``data``."""
    for name, field in fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            section = data[name]
            for key in annotation.model_fields:
                assert key in section, f"{prefix}{name}.{key} is not in {ANNOTATED.name}"
            _documents_sections(annotation.model_fields, section, prefix=f"{prefix}{name}.")


def test_demo_config_is_the_embedded_one_and_is_valid() -> None:
    assert DEMO.read_text() == embedded_demo_config().read_text()
    settings = load_settings(DEMO)
    catalog = load_catalog(settings, config_source=str(DEMO))
    assert settings.engine.kind == "process"
    recipe = catalog.resolve("claude-sonnet-4-5")
    assert recipe is not None and recipe.command is not None
    assert "autosred.sim" in " ".join(recipe.command)


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("api:\n  listen: 127.0.0.1:8011\n  lisen: oops\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.messages == [f"{path}: api.lisen: unknown key"]


def test_bad_value_names_the_key_and_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("api:\n  listen: nowhere\nshutdown:\n  grace: soon\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    text = "\n".join(caught.value.messages)
    assert f"{path}: api.listen: expected 'host:port'" in text
    assert f"{path}: shutdown.grace: expected a duration" in text
    assert "'soon'" in text


def test_bad_recipe_names_its_index_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "recipes:\n  - name: ok\n    command: x\n  - name: Bad Name\n    idle_timeout: 3x\n"
    )
    settings = load_settings(path)
    with pytest.raises(ConfigError) as caught:
        load_catalog(settings, config_source=str(path))
    text = "\n".join(caught.value.messages)
    assert f"{path}: recipes[1].idle_timeout: expected a duration" in text


def test_recipes_dir_is_read_and_its_errors_name_the_file(tmp_path: Path) -> None:
    recipes = tmp_path / "recipes.d"
    recipes.mkdir()
    (recipes / "a.yaml").write_text("name: alpha\naliases: [claude-*]\ncommand: [x]\n")
    (recipes / "b.yaml").write_text("name: beta\nwake_budget: forever\n")
    path = tmp_path / "c.yaml"
    path.write_text(f"recipes_dir: {recipes}\n")
    with pytest.raises(ConfigError) as caught:
        load_catalog(load_settings(path), config_source=str(path))
    assert caught.value.messages[0].startswith(f"{recipes / 'b.yaml'}: wake_budget:")
    (recipes / "b.yaml").write_text("name: beta\nwake_budget: 90s\n")
    catalog = load_catalog(load_settings(path), config_source=str(path))
    assert [r.name for r in catalog] == ["alpha", "beta"]
    assert catalog.resolve("claude-opus-4-5") == catalog.get("alpha")
    beta = catalog.get("beta")
    assert beta is not None and beta.wake_budget == 90


def test_env_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("api:\n  listen: 127.0.0.1:8011\n")
    monkeypatch.setenv("AUTOSRED_API__LISTEN", "127.0.0.1:9999")
    monkeypatch.setenv("AUTOSRED_SHUTDOWN__GRACE", "5m")
    settings = load_settings(path)
    assert settings.api.listen == "127.0.0.1:9999"
    assert settings.shutdown.grace == 300


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0), ("250ms", 0.25), ("0", 0.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "-5", "5 parsecs", True, None, [1]])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_check_config_exits_0_for_a_valid_file() -> None:
    result = autosred("--check-config", "--config", str(DEMO))
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout
    assert "demo" in result.stdout


def test_check_config_exits_2_with_the_messages(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("engine:\n  kind: docker\nrecipes:\n  - name: x\n    colour: blue\n")
    result = autosred("--check-config", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: engine.kind:" in result.stderr
    assert "'static', 'process' or 'kubernetes'" in result.stderr


def test_check_config_reports_recipe_errors_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("recipes:\n  - name: x\n    colour: blue\n")
    result = autosred("--check-config", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: recipes[0].colour: unknown key" in result.stderr


def test_non_loopback_api_without_client_tokens_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "open.yaml"
    path.write_text("api:\n  listen: 0.0.0.0:8011\nrecipes:\n  - name: x\n    command: [x]\n")
    result = autosred("--check-config", "--config", str(path))
    assert result.returncode == 2
    assert "client tokens are required" in result.stderr


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    result = autosred("--config", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr
