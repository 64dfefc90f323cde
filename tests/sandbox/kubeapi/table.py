"""``meta.k8s.io/v1`` Table output for ``kubectl get``."""

from __future__ import annotations

import datetime
import json
from typing import Any

from tests.sandbox.kubeapi import jsonpath

Obj = dict[str, Any]

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
_AGE_COLUMN = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": "CreationTimestamp is a timestamp representing the server time when this "
    "object was created.",
}


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a Table (the first acceptable form wins)."""
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if "as=Table" in params and "g=meta.k8s.io" in params:
            return True
        if part.split(";")[0].strip() in ("application/json", "*/*"):
            return False
    return False


def _columns(printer_columns: list[Obj]) -> list[Obj]:
    return printer_columns or [_AGE_COLUMN]


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery's HumanDuration, as the apiserver renders date columns."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes, hours = secs // 60, secs // 3600
    if minutes < 10:
        return f"{minutes}m{secs % 60}s" if secs % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _age(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        then = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if then.tzinfo is None:
        then = then.replace(tzinfo=datetime.UTC)
    return human_duration((datetime.datetime.now(datetime.UTC) - then).total_seconds())


def _cell(column: Obj, obj: Obj) -> Any:
    value = _raw_cell(column, obj)
    return _age(value) if column.get("type") == "date" else value


def _raw_cell(column: Obj, obj: Obj) -> Any:
    try:
        values = jsonpath.evaluate(str(column.get("jsonPath", "")), obj)
    except jsonpath.JsonPathError:
        return None
    if not values:
        return None
    if len(values) == 1:
        value = values[0]
        if isinstance(value, dict | list):
            return json.dumps(value, separators=(",", ":"))
        return value
    return " ".join(v if isinstance(v, str) else json.dumps(v) for v in values)


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def render(
    objects: list[Obj],
    printer_columns: list[Obj],
    resource_version: str,
    include_object: str = "Metadata",
    with_definitions: bool = True,
    list_meta: Obj | None = None,
) -> Obj:
    """A Table of ``objects`` with Name plus the printer columns (or Age)."""
    columns = _columns(printer_columns)
    rows = []
    for obj in objects:
        cells = [obj.get("metadata", {}).get("name")] + [_cell(c, obj) for c in columns]
        row: Obj = {"cells": cells}
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    definitions = [_NAME_COLUMN] + [
        {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in columns
    ]
    metadata = dict(list_meta or {})
    metadata["resourceVersion"] = resource_version
    table: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    if with_definitions:
        table["columnDefinitions"] = definitions
    else:
        table["columnDefinitions"] = None
    table["rows"] = rows
    return table
