"""autosrectl commands about what recipes render to: ``drift``, ``recipe helm-values`` and
``recipe apply``."""

from __future__ import annotations

import argparse
from urllib.parse import quote

from autosred.admin.schema import (
    DriftReport,
    HelmValues,
    ModelList,
    RecipeApplied,
    RecipeApplyRequest,
)
from autosred.ctl.commands import EXIT_FAILED, EXIT_OK, Context, _parse

_HASH_CHARS = 12


def drift(args: argparse.Namespace, ctx: Context) -> int:
    """Exit 0 (or with --exit-code: 1 when any model has drifted)."""
    client = ctx.client()
    names: list[str]
    if args.model:
        names = [args.model]
    else:
        names = [m.name for m in _parse(ModelList.from_json, client.get("/v1/models")).models]
    reports = [
        _parse(DriftReport.from_json, client.get(f"/v1/models/{quote(name, safe='')}/drift"))
        for name in names
    ]
    if ctx.json:
        if args.model:
            ctx.print_json(reports[0].to_json())
        else:
            ctx.print_json({"models": [report.to_json() for report in reports]})
    else:
        for report in reports:
            print(drift_view(report), file=ctx.out)
    if args.exit_code and any(report.drifted for report in reports):
        return EXIT_FAILED
    return EXIT_OK


def drift_view(report: DriftReport) -> str:
    """``model: message`` then, per differing field, the recipe's and the live value."""
    where = []
    if report.pod:
        where.append(f"pod {report.pod}")
    if report.recipe_hash:
        where.append(f"recipe {report.recipe_hash[:_HASH_CHARS]}")
    if report.live_hash and report.live_hash != report.recipe_hash:
        where.append(f"live {report.live_hash[:_HASH_CHARS]}")
    head = f"{report.model}: {report.message or ('drift' if report.drifted else 'no drift')}"
    if where:
        head += f" ({', '.join(where)})"
    lines = [head]
    for item in report.fields:
        lines.append(f"  {item.field}")
        lines.append(f"    recipe: {item.recipe}")
        lines.append(f"    live:   {item.live}")
    return "\n".join(lines)


def recipe(args: argparse.Namespace, ctx: Context) -> int:
    # helm-values (apply has its own handler, recipe_apply).
    route = f"/v1/recipes/{quote(args.model, safe='')}/helm-values"
    values = _parse(HelmValues.from_json, ctx.client().get(route))
    if ctx.json:
        ctx.print_json(values.values)
    else:
        print(
            f"# helm/autosre values for recipe {values.model} (autosrectl recipe helm-values)",
            file=ctx.out,
        )
        ctx.out.write(values.yaml)
        ctx.out.flush()
    return EXIT_OK


def recipe_apply(args: argparse.Namespace, ctx: Context) -> int:
    """One line per object (``deployment/NAME configured``); with --dry-run the diff of each
    object that would change, under its line."""
    route = f"/v1/recipes/{quote(args.model, safe='')}/apply"
    body = RecipeApplyRequest(dry_run=args.dry_run, force=args.force).to_json()
    applied = _parse(RecipeApplied.from_json, ctx.client().post(route, body))
    if ctx.json:
        ctx.print_json(applied.to_json())
        return EXIT_OK
    suffix = " (dry run: nothing changed)" if applied.dry_run else ""
    for obj in applied.objects:
        print(f"{obj.kind.lower()}/{obj.name} {obj.action}{suffix}", file=ctx.out)
        if applied.dry_run and obj.diff:
            ctx.out.write(obj.diff if obj.diff.endswith("\n") else obj.diff + "\n")
    ctx.out.flush()
    return EXIT_OK
