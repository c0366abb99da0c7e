"""helm/autosre, packaged as `make chart` packages it (helm/package.py, Helm's own packager):
the archive rendered with Helm's Go SDK (helm-python-sdk), linted, validated against the
Kubernetes schemas (kubernetes-validate), and equal to what the daemon renders."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from autosred import __version__
from autosred.kube.client import REQUIRED_ACCESS
from autosred.recipes import Recipe
from autosred.recipes.builtin import builtin_names, builtin_recipe, expand
from autosred.recipes.render import helm_values, render_deployment, render_service

helm = pytest.importorskip(
    "helm_python",
    reason="helm-python-sdk (Helm's Go SDK for Python) is not installed: pip install "
    "helm-python-sdk (it ships the native library; no helm binary needed)",
)
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed: pip install it"
)

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "autosre"
K8S_VERSION = "1.31.0"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart packaged by the command `make chart` runs (into a directory of the test's)."""
    dist = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, str(ROOT / "helm" / "package.py"), str(dist)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == dist / f"autosre-{__version__}.tgz"
    assert [p.name for p in dist.iterdir()] == [path.name]
    return path


def recipes() -> Iterator[Recipe]:
    for name in builtin_names():
        yield Recipe.model_validate(builtin_recipe(name))
    yield Recipe.model_validate(
        expand(
            {
                "extends": "qwen3.6-35b-a3b-nvfp4",
                "name": "pinned_one",
                "revision": "0123abc",
                "env": {"HF_HOME": "/models", "VLLM_LOGGING_LEVEL": "DEBUG"},
                "service": {"cluster_ip": "10.43.200.10", "port": 80},
                "runtime_class": "nvidia",
                "port": 9000,
                "vllm_args": ["--speculative-config", '{"method": "mtp", "n": 2}', "--x=1"],
            }
        )
    )
    yield Recipe.model_validate(
        {
            "name": "cpu",
            "model": "org/tiny",
            "image": "vllm/vllm-openai:v0.24.0@sha256:" + "0" * 64,
            "gpu": {"count": 0},
            "hf_cache": None,
            "shm_size": "1Gi",
        }
    )


def render_chart(
    archive: Path, values: dict[str, Any], namespace: str = "models"
) -> list[dict[str, Any]]:
    with helm.Chart.load(str(archive)) as chart:
        manifests = chart.render(values, name="autosre", namespace=namespace)
    docs = []
    for text in manifests.values():
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


@pytest.mark.parametrize("recipe", list(recipes()), ids=lambda r: r.name)
def test_chart_and_daemon_render_the_same_objects(recipe: Recipe, archive: Path) -> None:
    docs = render_chart(archive, {"models": [helm_values(recipe)]})
    assert of_kind(docs, "Deployment") == [render_deployment(recipe)]
    assert of_kind(docs, "Service") == [render_service(recipe)]


def test_every_object_is_valid_kubernetes(archive: Path) -> None:
    docs = render_chart(archive, {"models": [helm_values(recipe) for recipe in recipes()]})
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == [
        "Deployment",
        "Deployment",
        "Deployment",
        "Role",
        "RoleBinding",
        "Service",
        "Service",
        "Service",
        "ServiceAccount",
    ]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    for recipe in recipes():
        kubernetes_validate.validate(render_deployment(recipe), K8S_VERSION, strict=True)
        kubernetes_validate.validate(render_service(recipe), K8S_VERSION, strict=True)


def test_deployments_start_at_zero_replicas(archive: Path) -> None:
    docs = render_chart(archive, {"models": [helm_values(recipe) for recipe in recipes()]})
    assert {doc["spec"]["replicas"] for doc in of_kind(docs, "Deployment")} == {0}


def test_the_role_grants_exactly_what_the_daemon_uses(archive: Path) -> None:
    docs = render_chart(archive, {"models": []}, namespace="llm")
    (role,) = of_kind(docs, "Role")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == set(REQUIRED_ACCESS)
    (binding,) = of_kind(docs, "RoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "autosred", "namespace": "llm"}
    ]
    assert of_kind(render_chart(archive, {"rbac": {"create": False}}), "Role") == []


def test_no_models_renders_only_rbac(archive: Path) -> None:
    kinds = sorted(doc["kind"] for doc in render_chart(archive, {}))
    assert kinds == ["Role", "RoleBinding", "ServiceAccount"]


def test_the_chart_carries_autosreds_version(archive: Path) -> None:
    """One number for the daemon and the chart: Chart.yaml in the tree (what `helm install
    helm/autosre` reads) and the packaged archive both say autosred's version."""
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert (meta["version"], meta["appVersion"]) == (__version__, __version__)
    with helm.Chart.load(str(archive)) as chart:
        assert (chart.name, chart.version) == ("autosre", __version__)
        assert chart.metadata["appVersion"] == __version__


def test_the_archive_is_what_helm_reads(archive: Path) -> None:
    """Helm's layout (everything under autosre/, the templates and values), and `helm lint`
    finds nothing in it, warnings included."""
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    assert names == sorted(
        f"autosre/{path.relative_to(CHART)}" for path in CHART.rglob("*") if path.is_file()
    )
    report = helm.lint(str(archive), strict=True, kube_version="v" + K8S_VERSION)
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report
