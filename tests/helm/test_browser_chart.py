"""helm/autosre's browser (browserless/chromium for mcp.browser.cdp_url), rendered with Helm's
Go SDK from the packaged chart and validated against the Kubernetes schemas: the token in a
Secret the container reads, a pinned ClusterIP, a pinned image; nothing when disabled; no
token is a render error."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.helm.test_chart import K8S_VERSION, archive, helm, kubernetes_validate, of_kind
from tests.helm.test_chart import render_chart as render

__all__ = ["archive"]

ENABLED = {
    "enabled": True,
    "token": "s3cret-cdp",
    "service": {"clusterIP": "10.43.200.30", "port": 3000},
}


def test_the_browser_renders_valid_objects_with_its_token_in_a_secret(archive: Path) -> None:
    docs = render(archive, {"browser": ENABLED})
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    (secret,) = of_kind(docs, "Secret")
    assert base64.b64decode(secret["data"]["token"]) == b"s3cret-cdp"
    (deployment,) = of_kind(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("ghcr.io/browserless/chromium:v")
    token = next(env for env in container["env"] if env["name"] == "TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"],
        "key": "token",
    }
    assert "s3cret-cdp" not in str(deployment), "the token only in the Secret"
    (service,) = of_kind(docs, "Service")
    assert service["spec"]["clusterIP"] == "10.43.200.30"
    assert service["spec"]["ports"][0]["port"] == 3000


def test_an_existing_secret_is_used_as_it_is(archive: Path) -> None:
    docs = render(archive, {"browser": {"enabled": True, "existingSecret": "mine"}})
    assert of_kind(docs, "Secret") == []
    (deployment,) = of_kind(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "mine"


def test_disabled_renders_no_browser(archive: Path) -> None:
    kinds = sorted(doc["kind"] for doc in render(archive, {}))
    assert kinds == ["Role", "RoleBinding", "ServiceAccount"]


def test_enabled_without_a_token_is_refused(archive: Path) -> None:
    with pytest.raises(helm.errors.HelmRenderError, match=r"needs browser\.token"):
        render(archive, {"browser": {"enabled": True}})
