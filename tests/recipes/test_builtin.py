"""Built-in recipes and ``extends``; the documented example recipe loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from autosred.config import ConfigError, load_settings
from autosred.recipes import Recipe, load_catalog
from autosred.recipes.builtin import builtin_names, builtin_recipe, expand
from autosred.recipes.render import render_deployment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "etc" / "autosred" / "recipes.d" / "example.yaml"
QWEN = "qwen3.6-35b-a3b-nvfp4"


def test_the_production_recipe_is_built_in() -> None:
    assert QWEN in builtin_names()
    recipe = Recipe.model_validate(builtin_recipe(QWEN))
    assert recipe.model == "nvidia/Qwen3.6-35B-A3B-NVFP4"
    assert recipe.image == "vllm/vllm-openai:v0.24.0"
    args = render_deployment(recipe)["spec"]["template"]["spec"]["containers"][0]["args"]
    joined = " ".join(args)
    assert "--scheduling-policy priority" in joined
    assert "--enable-chunked-prefill" in joined
    assert "--reasoning-parser qwen3" in joined
    assert "--tool-call-parser qwen3_coder" in joined
    assert recipe.gpu.count == 1


def test_extends_merges_mappings_and_replaces_the_rest() -> None:
    data = expand({"extends": QWEN, "name": "qwen", "gpu": {"min_free_vram_gib": 80}})
    recipe = Recipe.model_validate(data)
    assert recipe.name == "qwen"
    assert recipe.gpu.count == 1 and recipe.gpu.min_free_vram_gib == 80
    assert recipe.model == "nvidia/Qwen3.6-35B-A3B-NVFP4"
    with pytest.raises(ValueError, match="not a built-in recipe"):
        expand({"extends": "nope"})


def test_extends_in_config_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"recipes_dir: null\nrecipes:\n  - extends: {QWEN}\n    aliases: [claude-*]\n")
    catalog = load_catalog(load_settings(path), config_source=str(path))
    assert catalog.resolve("claude-sonnet-4-5") == catalog.get(QWEN)
    path.write_text("recipes_dir: null\nrecipes:\n  - extends: nope\n")
    with pytest.raises(ConfigError) as caught:
        load_catalog(load_settings(path), config_source=str(path))
    assert caught.value.messages[0].startswith(f"{path}: recipes[0].extends: 'nope'")


def test_the_example_recipe_loads_and_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    recipe = Recipe.model_validate(expand(yaml.safe_load(text)))
    render_deployment(recipe)
    for key in Recipe.model_fields:
        assert f"\n{key}:" in text or f"\n# {key}:" in text, f"{key} is not in {EXAMPLE.name}"
