"""The one-operation EC2 model matches what botocore ships, and the client uses it."""

from __future__ import annotations

from typing import Any

import botocore.loaders
from amistore_operator.aws import create, ec2, ec2model, images


def _without_docs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_docs(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [_without_docs(v) for v in value]
    return value


def _closure(shapes: dict[str, Any], name: str, seen: dict[str, Any]) -> None:
    if name in seen:
        return
    shape = seen[name] = _without_docs(shapes[name])
    refs = [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
    refs += [member["shape"] for member in shape.get("members", {}).values()]
    for ref in refs:
        _closure(shapes, ref, seen)


def test_model_is_botocores_operations_and_shapes() -> None:
    full = botocore.loaders.Loader().load_service_model("ec2", "service-2", ec2model.API_VERSION)
    operations: dict[str, Any] = {}
    shapes: dict[str, Any] = {}
    for name in (ec2.OPERATION, create.OPERATION):
        operation = operations[name] = _without_docs(full["operations"][name])
        _closure(full["shapes"], operation["input"]["shape"], shapes)
        _closure(full["shapes"], operation["output"]["shape"], shapes)

    assert ec2model.MODEL["metadata"] == full["metadata"]
    assert ec2model.MODEL["operations"] == operations
    assert ec2model.MODEL["shapes"] == shapes


def test_client_loads_only_the_subset() -> None:
    client = ec2.make_client("eu-west-1")
    service = client.client.meta.service_model
    expected = [
        ec2.OPERATION,
        create.OPERATION,
        *images.READS,
        images.DEREGISTER,
        "CreateRestoreImageTask",
    ]
    assert sorted(service.operation_names) == sorted(expected)
    assert service.api_version == ec2model.API_VERSION
    shape = service.operation_model(ec2.OPERATION).input_shape
    assert shape is not None
    assert set(shape.members) == {"ImageIds", "DryRun", "Filters", "NextToken", "MaxResults"}
