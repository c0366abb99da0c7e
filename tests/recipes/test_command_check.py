"""A recipe command is rendered when the catalog loads: a bad placeholder is a config error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autosred.recipes import Recipe
from autosred.recipes.render import RenderError, render_command


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autosred.daemon", "--check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_refuses_an_unknown_placeholder_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "autosred.yaml"
    path.write_text(
        "engine:\n  kind: process\n"
        "recipes:\n"
        "  - name: good\n    command: ['{python}', '--port={port}']\n"
        "  - name: bad\n    command: ['{python}', '--port={prot}']\n"
    )
    result = check_config(path)
    assert result.returncode == 2, result.stdout
    assert (
        f"{path}: recipes[1].command: bad: command argument '--port={{prot}}' uses unknown "
        "placeholder {prot} (known: {port}, {host}, {name}, {served_model_name}, {model}, "
        "{python})"
    ) in result.stderr
    assert "configuration is NOT valid" in result.stderr


def test_check_config_names_the_recipe_file_in_recipes_dir(tmp_path: Path) -> None:
    recipes = tmp_path / "recipes.d"
    recipes.mkdir()
    (recipes / "qwen.yaml").write_text("name: qwen\ncommand: 'serve {model} {oops'\n")
    path = tmp_path / "autosred.yaml"
    path.write_text(f"engine:\n  kind: process\nrecipes_dir: {recipes}\n")
    result = check_config(path)
    assert result.returncode == 2, result.stdout
    assert f"{recipes / 'qwen.yaml'}: command: qwen: command argument '{{model}}' uses " in (
        result.stderr
    )


def test_check_config_accepts_every_known_placeholder(tmp_path: Path) -> None:
    path = tmp_path / "autosred.yaml"
    path.write_text(
        "engine:\n  kind: process\n"
        "recipes:\n"
        "  - name: m\n    model: org/m\n"
        "    command: '{python} {model} {name} {served_model_name} {host} {port} {{literal}}'\n"
    )
    result = check_config(path)
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout


def test_render_command_without_a_command_says_so() -> None:
    with pytest.raises(RenderError, match="qwen: the recipe has no command"):
        render_command(Recipe(name="qwen"), host="127.0.0.1", port=1)


def test_render_command_fills_the_placeholders() -> None:
    recipe = Recipe(name="m", model="org/m", command=["{python}", "{model}", "--port={port}"])
    argv = render_command(recipe, host="127.0.0.1", port=8123)
    assert argv == [sys.executable, "org/m", "--port=8123"]
