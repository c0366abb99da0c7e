"""Recipes: the single source of truth for one model deployment."""

from autosred.recipes.catalog import Catalog, load_catalog
from autosred.recipes.model import Reasoning, Recipe
from autosred.recipes.priority import HeaderMatch, PriorityRule, request_priority

__all__ = [
    "Catalog",
    "HeaderMatch",
    "PriorityRule",
    "Reasoning",
    "Recipe",
    "load_catalog",
    "request_priority",
]
