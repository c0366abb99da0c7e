"""The fake's pure parts: selectors, patches, the store's versions and watches."""

from __future__ import annotations

from typing import Any

import pytest

from fake_k3s.errors import ApiError
from fake_k3s.patches import json_patch, merge_patch, strategic_merge_patch
from fake_k3s.resources import PODS, SERVICES
from fake_k3s.selectors import FieldSelector, LabelSelector
from fake_k3s.store import Store

LABELS = {"app": "qwen", "tier": "gpu", "autosred.io/recipe": "q"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=qwen", True),
        ("app==qwen,tier=gpu", True),
        ("app=other", False),
        ("app!=other", True),
        ("missing!=x", True),  # != matches objects without the label
        ("app in (a, qwen)", True),
        ("app in (a,b),tier=gpu", False),
        ("app notin (a,b)", True),
        ("missing notin (a)", True),
        ("autosred.io/recipe", True),
        ("!autosred.io/recipe", False),
        ("!missing", True),
        ("missing", False),
    ],
)
def test_label_selector_grammar(selector: str, matches: bool) -> None:
    assert LabelSelector.parse(selector).matches(LABELS) is matches


def test_label_selector_errors_and_objects() -> None:
    with pytest.raises(ApiError) as caught:
        LabelSelector.parse("app=(")
    assert caught.value.code == 400 and caught.value.reason == "BadRequest"
    selector = LabelSelector.from_object(
        {
            "matchLabels": {"app": "qwen"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu"]}],
        }
    )
    assert selector.matches(LABELS) and str(selector) == "app=qwen,tier in (gpu)"
    assert LabelSelector.parse(str(selector)) == selector


def test_field_selector() -> None:
    event = {"involvedObject": {"name": "p1", "kind": "Pod"}, "type": "Warning"}
    assert FieldSelector.parse("involvedObject.name=p1,type!=Normal").matches(event)
    assert not FieldSelector.parse("involvedObject.name==p2").matches(event)
    assert FieldSelector.parse("involvedObject.uid!=x").matches(event)


def test_merge_patch_is_rfc7386() -> None:
    target = {"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": True}
    assert merge_patch(target, {"a": {"b": 9, "c": None}, "list": [3], "gone": None}) == {
        "a": {"b": 9},
        "list": [3],
    }


def test_strategic_merge_patch_merges_named_lists() -> None:
    spec = {
        "containers": [
            {"name": "vllm", "image": "v1", "env": [{"name": "A", "value": "1"}], "args": ["--x"]},
            {"name": "side", "image": "s"},
        ],
        "ports": [{"containerPort": 8000, "name": "http"}],
    }
    patched = strategic_merge_patch(
        spec,
        {
            "containers": [
                {
                    "name": "vllm",
                    "image": "v2",
                    "env": [{"name": "B", "value": "2"}],
                    "args": ["--y"],
                },
                {"name": "side", "$patch": "delete"},
                {"name": "new", "image": "n"},
            ],
            "ports": [{"containerPort": 9000}],
        },
    )
    vllm, new = patched["containers"]
    assert vllm["image"] == "v2" and vllm["args"] == ["--y"]  # plain lists are replaced
    assert vllm["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert new == {"name": "new", "image": "n"}
    assert [p["containerPort"] for p in patched["ports"]] == [8000, 9000]
    replaced = strategic_merge_patch(
        spec, {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o"}]}
    )
    assert replaced["containers"] == [{"name": "only", "image": "o"}]
    assert strategic_merge_patch({"m": {"a": 1}}, {"m": {"$patch": "replace", "b": 2}}) == {
        "m": {"b": 2}
    }


def test_json_patch_operations() -> None:
    doc: dict[str, Any] = {
        "spec": {"replicas": 1, "list": ["a"]},
        "metadata": {"labels": {"a/b": "x"}},
    }
    result = json_patch(
        doc,
        [
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "add", "path": "/spec/list/-", "value": "b"},
            {"op": "add", "path": "/spec/list/0", "value": "z"},
            {"op": "remove", "path": "/metadata/labels/a~1b"},
            {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
            {"op": "move", "from": "/spec/copied", "path": "/spec/moved"},
        ],
    )
    assert result == {
        "spec": {"replicas": 2, "list": ["z", "a", "b"], "moved": 2},
        "metadata": {"labels": {}},
    }
    assert doc["spec"]["replicas"] == 1  # the input is not modified
    with pytest.raises(ApiError) as caught:
        json_patch(doc, [{"op": "test", "path": "/spec/replicas", "value": 5}])
    assert caught.value.code == 422
    with pytest.raises(ApiError):
        json_patch(doc, [{"op": "replace", "path": "/nope/x", "value": 1}])


def _pod(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "labels": labels}, "spec": {}}


async def test_store_versions_increase_globally_and_no_op_writes_keep_them() -> None:
    store = Store()
    pod = store.insert(PODS, _pod("a", app="x"))
    service = store.insert(SERVICES, {"metadata": {"name": "s", "namespace": "default"}})
    assert int(service["metadata"]["resourceVersion"]) > int(pod["metadata"]["resourceVersion"])
    assert pod["metadata"]["uid"] and pod["metadata"]["creationTimestamp"].endswith("Z")
    same = store.replace(PODS, pod)
    assert same["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
    pod["metadata"]["labels"]["new"] = "1"
    changed = store.replace(PODS, pod)
    assert int(changed["metadata"]["resourceVersion"]) == store.resource_version
    with pytest.raises(ApiError) as caught:
        store.insert(PODS, _pod("a"))
    assert (caught.value.code, caught.value.reason) == (409, "AlreadyExists")


async def test_store_watch_replays_translates_selectors_and_expires() -> None:
    store = Store(history_limit=5)
    start = store.resource_version
    pod = store.insert(PODS, _pod("a", app="x"))
    pod["metadata"]["labels"] = {"app": "y"}
    store.replace(PODS, pod)
    watch = store.watch(PODS, "default", LabelSelector.parse("app=x"), FieldSelector(), start)
    added, left = watch.queue.get_nowait(), watch.queue.get_nowait()
    assert (
        added is not None and added[0] == "ADDED" and added[1]["metadata"]["labels"] == {"app": "x"}
    )
    # Leaving the selector is seen as DELETED, as from the real API server.
    assert (
        left is not None and left[0] == "DELETED" and left[1]["metadata"]["labels"] == {"app": "y"}
    )
    assert watch.queue.empty()
    for index in range(10):
        store.insert(PODS, _pod(f"p{index}"))
    with pytest.raises(ApiError) as caught:
        store.watch(PODS, None, LabelSelector(), FieldSelector(), start)
    assert (caught.value.code, caught.value.reason) == (410, "Expired")
    recent = store.watch(PODS, None, LabelSelector(), FieldSelector(), store.resource_version - 2)
    assert recent.queue.qsize() == 2
    store.compact()
    with pytest.raises(ApiError):
        store.watch(PODS, None, LabelSelector(), FieldSelector(), store.resource_version - 1)
    fresh = store.watch(PODS, None, LabelSelector(), FieldSelector(), None)
    assert fresh.queue.qsize() == 11  # an ADDED for each existing object
    store.cut_watches()
    assert recent.queue.get_nowait() is not None and recent.queue.get_nowait() is not None
    assert recent.queue.get_nowait() is None  # cut
