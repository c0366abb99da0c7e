"""fake_k3s.fieldmanager's pure parts, drawn by hypothesis: any JSON object's fields survive
the round trip through managedFields' fieldsV1 form, and an apply of any configuration owns
exactly its fields and conflicts with nothing on an object only it has written (or is
refused with a 422)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fake_k3s.errors import ApiError
from fake_k3s.fieldmanager import APPLY, Owner, apply, fields_v1, leaves, ownership
from fake_k3s.fieldmanager import _paths as paths_of

NAMES = st.sampled_from(["name", "env", "ports", "containers", "value", "port", "a", "k:x", "."])
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=5)


def json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
        max_leaves=12,
    )


OBJECTS = st.dictionaries(NAMES, json_values(), max_size=4).map(
    lambda spec: {"apiVersion": "v1", "metadata": {"name": "x"}, "spec": spec}
)


@settings(max_examples=300, deadline=None)
@given(OBJECTS)
def test_fields_survive_the_fieldsv1_round_trip(obj: dict[str, Any]) -> None:
    found = set(leaves(obj))
    assert paths_of(fields_v1(found)) == found


@settings(max_examples=200, deadline=None)
@given(OBJECTS, OBJECTS)
def test_one_appliers_objects_never_conflict(first: dict[str, Any], second: dict[str, Any]) -> None:
    try:
        live = apply(None, first, "me", force=False)
        again = apply(live, second, "me", force=False)
    except ApiError as exc:
        # A list item without its merge key is refused as the API server refuses it.
        assert exc.code == 422 and "merge keys" in exc.message, exc.message
        return
    assert ownership(again).get(Owner("me", APPLY), set()) == set(leaves(second))
