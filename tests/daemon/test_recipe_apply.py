"""autosrectl recipe apply: the real daemon's kubernetes engine applies a recipe's Service and
Deployment to the fake k3s by server-side apply; the test reads them back with the official
client. Creates, then changes nothing, restores a drifted field (a conflict until --force),
dry-runs a changed recipe as a diff without changing anything, and refuses what it cannot do."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from kubernetes import client, config

from fake_k3s import running_cluster
from tests.ctl.run import Ctl
from tests.daemon.test_kubernetes import FAST, recipe
from tests.daemon.test_kubernetes import config as daemon_config
from tests.support.daemon import base_config, running_daemon, sim_recipe

NS = "default"
JSON = dict[str, Any]


class Cluster:
    """The official client on the fake's kubeconfig, called off the event loop."""

    def __init__(self, kubeconfig: Path) -> None:
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration
        )
        self.api = client.ApiClient(configuration)
        self.apps = client.AppsV1Api(self.api)
        self.core = client.CoreV1Api(self.api)

    async def deployment(self, name: str) -> JSON:
        raw: Any = await asyncio.to_thread(
            self.apps.read_namespaced_deployment, name, NS, _preload_content=False
        )
        found: JSON = json.loads(raw.data)
        return found

    async def service(self, name: str) -> JSON:
        raw: Any = await asyncio.to_thread(
            self.core.read_namespaced_service, name, NS, _preload_content=False
        )
        found: JSON = json.loads(raw.data)
        return found

    async def edit_image(self, name: str, image: str) -> None:
        """What `kubectl edit` does: a strategic merge patch under its own field manager."""
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "vllm", "image": image}]}}}}
        await asyncio.to_thread(
            self.apps.patch_namespaced_deployment, name, NS, patch,
            field_manager="kubectl-edit",
            _content_type="application/strategic-merge-patch+json",
        )  # fmt: skip

    async def scale(self, name: str, replicas: int) -> None:
        await asyncio.to_thread(
            self.apps.patch_namespaced_deployment_scale, name, NS,
            {"spec": {"replicas": replicas}}, _content_type="application/merge-patch+json",
        )  # fmt: skip


def image(deployment: JSON) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def changed_lines(diff: str) -> list[str]:
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def appliers(obj: JSON) -> list[str]:
    return [e["manager"] for e in obj["metadata"]["managedFields"] if e["operation"] == "Apply"]


async def test_recipe_apply_creates_keeps_restores_and_dry_runs(tmp_path: Path) -> None:
    async with (
        running_cluster(tmp_path / "k3s", **FAST) as cluster,
        running_daemon(tmp_path, daemon_config(tmp_path, cluster)) as daemon,
    ):
        assert cluster.kubeconfig is not None
        kube = Cluster(cluster.kubeconfig)
        ctl = Ctl(socket=tmp_path / "admin.sock")
        try:
            created = await ctl("recipe", "apply", "qwen")
            assert (created.rc, created.err) == (0, "")
            assert created.out == "service/qwen created\ndeployment/qwen created\n"
            deployment = await kube.deployment("qwen")
            assert deployment["spec"]["replicas"] == 0
            assert image(deployment) == "vllm/vllm-openai:v0.24.0"
            assert appliers(deployment) == ["autosred"]
            assert appliers(await kube.service("qwen")) == ["autosred"]
            generation = deployment["metadata"]["generation"]

            again = await ctl("recipe", "apply", "qwen")
            assert again.out == "service/qwen unchanged\ndeployment/qwen unchanged\n"
            assert (await kube.deployment("qwen"))["metadata"]["generation"] == generation

            # The daemon's owner task scales; an apply keeps the live replicas.
            await kube.scale("qwen", 1)
            kept = await ctl("recipe", "apply", "qwen", "--json")
            actions = [o["action"] for o in json.loads(kept.out)["objects"]]
            assert actions == ["unchanged", "unchanged"]
            assert (await kube.deployment("qwen"))["spec"]["replicas"] == 1
            await kube.scale("qwen", 0)

            await kube.edit_image("qwen", "vllm/vllm-openai:drifted")
            refused = await ctl("recipe", "apply", "qwen")
            assert refused.rc == 1
            assert 'conflict with "kubectl-edit"' in refused.err, refused.err
            assert '.spec.template.spec.containers[name="vllm"].image' in refused.err
            assert "--force" in refused.err
            assert image(await kube.deployment("qwen")) == "vllm/vllm-openai:drifted"

            preview = await ctl("recipe", "apply", "qwen", "--dry-run", "--force")
            assert preview.rc == 0, preview.err
            assert preview.out.splitlines()[:4] == [
                "service/qwen unchanged (dry run: nothing changed)",
                "deployment/qwen configured (dry run: nothing changed)",
                "--- live deployment/qwen",
                "+++ applied deployment/qwen",
            ]
            assert changed_lines(preview.out) == [
                "-        image: vllm/vllm-openai:drifted",
                "+        image: vllm/vllm-openai:v0.24.0",
            ]
            for noise in ("managedFields", "resourceVersion", "generation", "status", "uid"):
                assert noise not in preview.out
            drifted = await kube.deployment("qwen")
            assert image(drifted) == "vllm/vllm-openai:drifted"

            forced = await ctl("recipe", "apply", "qwen", "--force")
            assert forced.out == "service/qwen unchanged\ndeployment/qwen configured\n"
            restored = await kube.deployment("qwen")
            assert image(restored) == "vllm/vllm-openai:v0.24.0"
            assert restored["metadata"]["generation"] == drifted["metadata"]["generation"] + 1
            assert (await ctl("recipe", "apply", "qwen")).out.endswith(
                "deployment/qwen unchanged\n"
            )

            unknown = await ctl("recipe", "apply", "nope")
            assert unknown.rc == 1
            assert "no model named 'nope' (available: qwen)" in unknown.err
            applied = daemon.events_named("admin.recipe_applied")
            assert [e["deployment"] for e in applied] == [
                "created", "unchanged", "unchanged", "configured", "unchanged"
            ]  # fmt: skip
        finally:
            kube.api.close()  # type: ignore[no-untyped-call]


async def test_the_engines_own_deploy_is_named_in_a_conflict(tmp_path: Path) -> None:
    """The engine deployed the recipe on a wake (its writes are field manager
    autosred-engine); a changed recipe's apply conflicts with that and says whose the fields
    are; its dry run prints the changed args and hash as a diff and changes nothing; --force
    takes the fields over without touching the replicas."""
    ctl = Ctl(socket=tmp_path / "admin.sock")
    async with running_cluster(tmp_path / "k3s", **FAST) as cluster:
        async with running_daemon(tmp_path, daemon_config(tmp_path, cluster)):
            woke = await ctl("scale", "up", "qwen", "--wait")
            assert woke.rc == 0, woke.err
        changed = daemon_config(tmp_path, cluster, recipe(vllm_args=["--max-model-len", "8192"]))
        async with running_daemon(tmp_path, changed):
            refused = await ctl("recipe", "apply", "qwen")
            assert refused.rc == 1
            assert 'conflict with "autosred-engine" using apps/v1' in refused.err, refused.err
            assert "the daemon's own earlier deploy" in refused.err
            assert cluster.kubeconfig is not None
            kube = Cluster(cluster.kubeconfig)
            before = await kube.deployment("qwen")
            preview = await ctl("recipe", "apply", "qwen", "--dry-run", "--force")
            assert preview.rc == 0, preview.err
            diff = changed_lines(preview.out)
            assert [line.replace(" ", "") for line in diff if "'" in line] == [
                "--'32768'",
                "+-'8192'",
            ]
            assert sum("autosred.io/recipe-hash" in line for line in diff) == 4
            after = await kube.deployment("qwen")
            assert after["spec"] == before["spec"]
            assert after["metadata"]["generation"] == before["metadata"]["generation"]
            forced = await ctl("recipe", "apply", "qwen", "--force")
            assert forced.out == "service/qwen unchanged\ndeployment/qwen configured\n"
            live = await kube.deployment("qwen")
            kube.api.close()  # type: ignore[no-untyped-call]
            assert live["spec"]["replicas"] == 1
            args = live["spec"]["template"]["spec"]["containers"][0]["args"]
            assert args[-2:] == ["--max-model-len", "8192"]


async def test_an_engine_without_kubernetes_says_what_apply_needs(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, base_config(tmp_path, [sim_recipe("alpha")])):
        result = await Ctl(socket=tmp_path / "admin.sock")("recipe", "apply", "alpha")
    assert result.rc == 1
    assert "recipe apply needs engine.kind: kubernetes" in result.err
