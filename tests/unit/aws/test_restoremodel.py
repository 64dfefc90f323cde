"""Restore's part of the EC2 model: botocore's shapes, merged onto export's and cleanup's."""

from __future__ import annotations

import copy
from typing import Any

import botocore.loaders
from amistore_operator.aws import ec2, ec2model, imagemodel, restoremodel

from tests.unit.aws.test_images import SEVEN, _refs, _without_docs

EIGHT = SEVEN | {"CreateRestoreImageTask"}


def _full() -> dict[str, Any]:
    loaded = botocore.loaders.Loader().load_service_model(
        "ec2", "service-2", restoremodel.API_VERSION
    )
    return dict(_without_docs(loaded))


def test_model_is_botocores_but_for_the_members_left_out() -> None:
    full = _full()
    assert (restoremodel.SERVICE, restoremodel.API_VERSION) == (
        ec2model.SERVICE,
        ec2model.API_VERSION,
    )
    for name, operation in restoremodel.OPERATIONS.items():
        assert operation == full["operations"][name], name
    for name, shape in restoremodel.SHAPES.items():
        theirs = full["shapes"][name]
        if "members" in shape:
            kept = shape["members"]
            assert kept == {k: theirs["members"][k] for k in kept}, name
            assert set(shape.get("required", ())) <= set(kept), name
            assert {**shape, "members": theirs["members"]} == theirs, name
        else:
            assert shape == theirs, name
    for name, members in restoremodel.MEMBERS.items():
        assert members == {k: full["shapes"][name]["members"][k] for k in members}, name
        assert not set(members) & set(imagemodel.SHAPES[name]["members"]), name
    # Exactly the shapes the operation and the extra members reach.
    reached: set[str] = set()
    roots = [s for o in restoremodel.OPERATIONS.values() for s in (o["input"], o["output"])]
    names = [s["shape"] for s in roots]
    names += [m["shape"] for ms in restoremodel.MEMBERS.values() for m in ms.values()]
    while names:
        name = names.pop()
        if name not in reached:
            reached.add(name)
            names += _refs(restoremodel.SHAPES[name])
    assert reached == set(restoremodel.SHAPES)


def test_the_merged_model_is_each_shape_with_the_union_of_its_members() -> None:
    full = _full()
    parts = [ec2model.MODEL["shapes"], imagemodel.SHAPES, restoremodel.SHAPES]
    merged = restoremodel.merged(imagemodel.merged(copy.deepcopy(ec2model.MODEL)))
    assert set(merged["operations"]) == EIGHT
    assert set(merged["shapes"]) == set().union(*parts)
    for name, shape in merged["shapes"].items():
        theirs = full["shapes"][name]
        if "members" not in shape:
            assert shape == theirs, name
            continue
        union: dict[str, Any] = {}
        for part in parts:
            union |= part.get(name, {}).get("members", {})
        union |= restoremodel.MEMBERS.get(name, {})
        assert shape["members"] == union, name
        assert shape["members"] == {k: theirs["members"][k] for k in union}, name
        # Every shape a member names is in the model.
        assert all(m["shape"] in merged["shapes"] for m in union.values()), name


def test_merged_changes_neither_model_and_merges_once() -> None:
    before = repr(ec2model.MODEL), repr(imagemodel.SHAPES), repr(restoremodel.SHAPES)
    cleanup = imagemodel.merged(ec2model.MODEL)
    image_before = repr(cleanup["shapes"]["Image"])
    merged = restoremodel.merged(cleanup)
    assert repr(cleanup["shapes"]["Image"]) == image_before
    assert "StateReason" in merged["shapes"]["Image"]["members"]
    assert (repr(ec2model.MODEL), repr(imagemodel.SHAPES), repr(restoremodel.SHAPES)) == before
    assert restoremodel.merged(merged) == merged


def test_a_session_from_new_session_makes_all_eight_operations(aws_env: None) -> None:
    service = ec2.new_session().client("ec2", region_name="eu-west-1").meta.service_model
    assert set(service.operation_names) == EIGHT
    image: Any = service.shape_for("Image")
    assert {"StateReason", "Tags", "BlockDeviceMappings"} <= set(image.members)
    assert "Architecture" not in image.members  # the trimmed shape
