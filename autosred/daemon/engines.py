"""Builds the configured engine: the only place that knows the concrete engine classes (and
builds the kubernetes engine's API client from the configuration)."""

from __future__ import annotations

import logging

from autosred.config import ConfigError, Settings
from autosred.engines.base import Engine
from autosred.engines.kubernetes import KubernetesEngine, check_names
from autosred.engines.process import ProcessEngine
from autosred.engines.static import StaticEngine
from autosred.kube import KubeClient, KubeError, RetryPolicy
from autosred.recipes import Catalog


def build_engine(settings: Settings, catalog: Catalog, *, log: logging.Logger) -> Engine:
    kind = settings.engine.kind
    if kind == "static":
        return StaticEngine(settings=settings.engine, log=log, recipes=catalog)
    if kind == "process":
        return ProcessEngine(settings=settings.engine, log=log)
    if kind == "kubernetes":
        problems = check_names(catalog)
        if problems:
            raise ConfigError([f"recipes: {problem}" for problem in problems])
        try:
            client = KubeClient.from_config(
                kubeconfig=settings.engine.kubeconfig,
                namespace=settings.engine.namespace,
                log=log.getChild("kube"),
                timeout=settings.engine.api_timeout,
                retry=RetryPolicy(budget=settings.engine.api_retry),
            )
        except KubeError as exc:  # no credentials found
            raise ConfigError([exc.message]) from exc
        return KubernetesEngine(settings=settings.engine, log=log, client=client)
    raise ConfigError([f"engine.kind: {kind!r} is not available in this version"])
