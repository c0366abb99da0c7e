"""Recipes: the single source of truth for one model deployment."""

from autosred.recipes.catalog import Catalog, load_catalog
from autosred.recipes.model import Recipe

__all__ = ["Catalog", "Recipe", "load_catalog"]
