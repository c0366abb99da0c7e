"""Configuration checks of the kubernetes engine: recipes it cannot run, missing credentials."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autosred.config import ConfigError, load_settings
from autosred.daemon.checks import check_runtime
from autosred.daemon.engines import build_engine
from autosred.recipes import Recipe, load_catalog
from autosred.recipes.render import render_command


def write(tmp_path: Path, **config: object) -> Path:
    path = tmp_path / "autosred.yaml"
    path.write_text(yaml.safe_dump({"recipes_dir": None, **config}))
    return path


def test_recipes_without_image_or_model_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        engine={"kind": "kubernetes", "kubeconfig": str(tmp_path / "kubeconfig")},
        recipes=[{"name": "a", "model": "org/a"}, {"name": "b", "image": "vllm/vllm-openai:x"}],
    )
    settings = load_settings(path)
    problems = check_runtime(settings, load_catalog(settings, config_source="c"), source="c")
    assert problems == [
        "c: recipes: the kubernetes engine needs image for: a",
        "c: recipes: the kubernetes engine needs model for: b",
    ]


def test_missing_credentials_stop_start_up_with_exit_2(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        engine={"kind": "kubernetes", "kubeconfig": str(tmp_path / "nope.yaml")},
        admin={"socket": str(tmp_path / "admin.sock"), "group": None},
        state_dir=str(tmp_path / "state"),
        api={"listen": "127.0.0.1:0"},
        codex={"listen": None},
        metrics={"listen": None},
        recipes=[{"name": "a", "model": "org/a", "image": "vllm/vllm-openai:v0.24.0"}],
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "autosred.daemon", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert f"no kubeconfig at {tmp_path / 'nope.yaml'}" in result.stderr


def test_colliding_object_names_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        engine={"kind": "kubernetes", "kubeconfig": str(tmp_path / "kubeconfig")},
        recipes=[
            {"name": "a.b", "model": "org/a", "image": "i:1"},
            {"name": "a-b", "model": "org/a", "image": "i:1"},
        ],
    )
    settings = load_settings(path)
    with pytest.raises(ConfigError, match="would both be deployed as 'a-b'"):
        build_engine(
            settings, load_catalog(settings, config_source="c"), log=logging.getLogger("t")
        )


def test_the_process_engine_runs_vllm_serve_from_the_recipe() -> None:
    recipe = Recipe.model_validate(
        {"name": "q", "model": "org/q", "vllm_args": ["--speculative-config", '{"n": 2}']}
    )
    assert render_command(recipe, host="127.0.0.1", port=8123) == [
        "vllm",
        "serve",
        "org/q",
        "--served-model-name",
        "q",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--speculative-config",
        '{"n": 2}',
    ]


def test_the_k8s_demo_config_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "etc" / "autosred" / "demo-k8s.yaml"
    settings = load_settings(path)
    catalog = load_catalog(settings, config_source=str(path))
    assert settings.engine.kind == "kubernetes"
    assert check_runtime(settings, catalog, source=str(path)) == []
    recipe = catalog.resolve("claude-sonnet-4-5")
    assert recipe is not None and recipe.image == "vllm/vllm-openai:v0.24.0"
