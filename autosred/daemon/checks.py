"""Checks that need the whole configuration at once (beyond each key's own validation)."""

from __future__ import annotations

from autosred.config import Settings, is_loopback_host, split_listen
from autosred.recipes import Catalog
from autosred.recipes.render import process_command


def check_runtime(settings: Settings, catalog: Catalog, *, source: str) -> list[str]:
    """Problems that stop start-up, each naming the file and key."""
    problems = []
    for key, address in (
        ("api.listen", settings.api.listen),
        ("codex.listen", settings.codex.listen),
    ):
        if address is None:
            continue
        host, _ = split_listen(address)
        if not is_loopback_host(host) and not settings.api.clients:
            problems.append(
                f"{source}: {key}: {address!r} is reachable from other machines, so client "
                "tokens are required: add api.clients (or bind 127.0.0.1)"
            )
    if settings.engine.kind == "static" and settings.engine.url is None:
        missing = [recipe.name for recipe in catalog if recipe.url is None]
        if missing:
            problems.append(
                f"{source}: engine.url: required by the static engine for recipes without "
                f"their own url: {', '.join(missing)}"
            )
    if settings.engine.kind == "process":
        missing = [recipe.name for recipe in catalog if process_command(recipe) is None]
        if missing:
            problems.append(
                f"{source}: recipes: the process engine needs a command (or a model to run "
                f"with vllm serve) for: {', '.join(missing)}"
            )
    if settings.engine.kind == "kubernetes":
        for key in ("image", "model"):
            missing = [recipe.name for recipe in catalog if not getattr(recipe, key)]
            if missing:
                problems.append(
                    f"{source}: recipes: the kubernetes engine needs {key} for: "
                    f"{', '.join(missing)}"
                )
    return problems
