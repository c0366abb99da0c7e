"""Loading recipes (inline and from recipes_dir) and resolving client model names to them."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from autosred.config import ConfigError, Settings, describe_validation_error, read_yaml_mapping
from autosred.recipes.builtin import EXTENDS, expand
from autosred.recipes.model import Recipe
from autosred.recipes.render import RenderError, render_command


@dataclass(frozen=True)
class Catalog:
    """The recipes in force, in order; resolves what a client sends as ``model``."""

    recipes: tuple[Recipe, ...]

    def __iter__(self) -> Iterator[Recipe]:
        return iter(self.recipes)

    def __len__(self) -> int:
        return len(self.recipes)

    def get(self, name: str) -> Recipe | None:
        return next((recipe for recipe in self.recipes if recipe.name == name), None)

    def resolve(self, requested: str) -> Recipe | None:
        """Exact names first (name, served name, label, literal aliases), then alias globs."""
        for recipe in self.recipes:
            if requested in recipe.client_names():
                return recipe
        for recipe in self.recipes:
            if any(fnmatch.fnmatchcase(requested, alias) for alias in recipe.aliases):
                return recipe
        return None

    def client_names(self) -> list[str]:
        names: list[str] = []
        for recipe in self.recipes:
            names += recipe.client_names()
        return list(dict.fromkeys(names))


def load_catalog(settings: Settings, *, config_source: str) -> Catalog:
    """Validate the inline recipes, then those in ``settings.recipes_dir``; all errors at once."""
    errors: list[str] = []
    recipes: list[Recipe] = []
    recipes += _validate(settings.recipes, source=config_source, prefix="recipes", errors=errors)
    if settings.recipes_dir is not None and settings.recipes_dir.is_dir():
        for path in sorted(settings.recipes_dir.glob("*.yaml")):
            try:
                data = read_yaml_mapping(path)
            except ConfigError as exc:
                errors += exc.messages
                continue
            recipes += _validate([data], source=str(path), prefix="", errors=errors)
    seen: dict[str, str] = {}
    for recipe in recipes:
        for name in recipe.client_names():
            if name in seen and seen[name] != recipe.name:
                errors.append(
                    f"{config_source}: recipes: {name!r} names both {seen[name]!r} and "
                    f"{recipe.name!r}"
                )
            seen.setdefault(name, recipe.name)
    if errors:
        raise ConfigError(errors)
    return Catalog(tuple(recipes))


def _validate(
    items: Sequence[object], *, source: str, prefix: str, errors: list[str]
) -> list[Recipe]:
    valid = []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]." if prefix else ""
        if not isinstance(item, Mapping):
            errors.append(f"{source}: {where.rstrip('.') or 'recipe'}: expected a mapping")
            continue
        try:
            data = expand(item)
        except ValueError as exc:
            errors.append(f"{source}: {where}{EXTENDS}: {exc}")
            continue
        try:
            recipe = Recipe.model_validate(data)
        except ValidationError as exc:
            errors += describe_validation_error(exc, source=source, prefix=where)
            continue
        if recipe.command:
            # Rendered once here so that a bad placeholder is a configuration error, found by
            # --check-config and refused by a reload, not a wake that fails at the first request.
            try:
                render_command(recipe, host="127.0.0.1", port=1)
            except RenderError as exc:
                errors.append(f"{source}: {where}command: {exc}")
                continue
        valid.append(recipe)
    return valid
