"""Structural-schema checks for CRDs; pruning, defaulting and validation of custom resources."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import re
from typing import Any

from tests.sandbox.kubeapi import cel

Schema = dict[str, Any]

_REASONS = {
    "Invalid value": "FieldValueInvalid",
    "Unsupported value": "FieldValueNotSupported",
    "Required value": "FieldValueRequired",
    "Duplicate value": "FieldValueDuplicate",
    "Too many": "FieldValueTooMany",
    "Too long": "FieldValueTooLong",
    "Forbidden": "FieldValueForbidden",
}
_CEL_REASONS = {
    "FieldValueForbidden": "Forbidden",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
}
_NO_VALUE = {"Required value", "Forbidden", "Too long"}
# Schema errors after which kube-apiserver runs no CEL rule (apiextensions-apiserver's
# hasBlockingErr): the rules' cost was estimated from the types and bounds these break.
_BLOCKING = {"Unsupported value", "Required value", "Too long", "Too many"}
NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


class _Omitted:
    """field.OmitValueType: the error shows no value (a CEL rule's object or array)."""


OMIT = _Omitted()


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One ``field.Error``: rendered the way k8s.io/apimachinery renders it."""

    field: str
    type: str  # "Invalid value", "Required value", ...
    value: Any = None
    detail: str = ""
    type_invalid: bool = False  # field.ErrorTypeTypeInvalid, also shown as "Invalid value"

    @property
    def blocking(self) -> bool:
        """Whether kube-apiserver skips the CEL rules after this error."""
        return self.type_invalid or self.type in _BLOCKING

    def body(self) -> str:
        """The message without the field (a Status cause's message)."""
        text = self.type
        if self.type not in _NO_VALUE and self.value is not OMIT:
            text += f": {render_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def text(self) -> str:
        """``field: body`` as in the Status message."""
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        """A Status ``details.causes[]`` entry."""
        reason = "FieldValueTypeInvalid" if self.type_invalid else _REASONS[self.type]
        return {"reason": reason, "message": self.body(), "field": self.field}


def render_value(value: Any) -> str:
    """Go's %#v-ish rendering used in field errors."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# ----- structural schema (CRD admission) -----


def check_structural(schema: Any, path: str) -> list[FieldError]:
    """Errors that make a CRD schema non-structural (or otherwise refused)."""
    if not isinstance(schema, dict):
        return [FieldError(path, "Required value", detail="schemas are required")]
    found: list[FieldError] = []
    _check_node(schema, path, found, root=True)
    return found


def _check_node(node: Schema, path: str, found: list[FieldError], root: bool = False) -> None:
    exempt = node.get("x-kubernetes-int-or-string") or node.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if not node.get("type") and not exempt:
        where = "at the root" if root else "for specified object fields"
        found.append(
            FieldError(f"{path}.type", "Required value", detail=f"must not be empty {where}")
        )
    if node.get("uniqueItems") is True:
        found.append(
            FieldError(
                f"{path}.uniqueItems",
                "Forbidden",
                detail="uniqueItems cannot be set to true since the runtime complexity "
                "becomes quadratic",
            )
        )
    if node.get("type") == "array" and not isinstance(node.get("items"), dict):
        found.append(FieldError(f"{path}.items", "Required value", detail="must be specified"))
    for index, rule in enumerate(node.get("x-kubernetes-validations") or []):
        problem = cel.check_compiles(str(rule.get("rule", "")))
        if problem is not None:
            found.append(
                FieldError(
                    f"{path}.x-kubernetes-validations[{index}].rule",
                    "Invalid value",
                    rule.get("rule"),
                    f"compilation failed: {problem}",
                )
            )
    for name, child in (node.get("properties") or {}).items():
        if isinstance(child, dict):
            _check_node(child, f"{path}.properties[{name}]", found)
    if isinstance(node.get("items"), dict):
        _check_node(node["items"], f"{path}.items", found)
    if isinstance(node.get("additionalProperties"), dict):
        _check_node(node["additionalProperties"], f"{path}.additionalProperties", found)


# ----- pruning and defaulting -----

_ROOT_KEEP = {"apiVersion", "kind", "metadata"}


def prune(obj: Any, schema: Schema, path: str = "", root: bool = True) -> list[str]:
    """Drop fields the schema does not declare (in place); return their paths."""
    dropped: list[str] = []
    if isinstance(obj, dict) and isinstance(schema, dict):
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        for key in list(obj):
            child_path = f"{path}.{key}" if path else key
            if root and key in _ROOT_KEEP:
                continue
            if props is not None and key in props:
                dropped += prune(obj[key], props[key], child_path, root=False)
            elif isinstance(additional, dict):
                dropped += prune(obj[key], additional, f"{path}[{key}]", root=False)
            elif not preserve and additional is not True:
                dropped.append(child_path)
                del obj[key]
    elif (
        isinstance(obj, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict)
    ):
        for index, item in enumerate(obj):
            dropped += prune(item, schema["items"], f"{path}[{index}]", root=False)
    return dropped


def apply_defaults(obj: Any, schema: Schema) -> None:
    """Fill ``default`` values of absent properties (in place)."""
    if isinstance(obj, dict):
        for key, child in (schema.get("properties") or {}).items():
            if key not in obj and "default" in child:
                obj[key] = copy.deepcopy(child["default"])
            if key in obj:
                apply_defaults(obj[key], child)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for value in obj.values():
                apply_defaults(value, additional)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            apply_defaults(item, schema["items"])


# ----- validation -----


def validate(obj: Any, schema: Schema, old: Any = None) -> list[FieldError]:
    """Errors of ``obj`` against an openAPIV3Schema (root: metadata is not checked).

    The schema's errors first, then the CEL rules' as kube-apiserver orders them; after a
    blocking schema error (a wrong type, enum, maxItems, ...) no rule runs, and one error
    says so, as kube-apiserver does.
    """
    found: list[FieldError] = []
    rules: list[FieldError] = []
    _validate(obj, schema, "", old, (found, rules), root=True)
    if any(error.blocking for error in found):
        return [*found, FieldError("<nil>", "Invalid value", None, NOT_CHECKED)]
    return found + rules


# Where errors go: the schema's, then the CEL rules'.
_Found = tuple[list[FieldError], list[FieldError]]


def _type_ok(value: Any, schema: Schema) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    expected = schema.get("type")
    if not expected:
        return True
    actual = _type_name(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _validate(
    value: Any, schema: Schema, path: str, old: Any, found: _Found, root: bool = False
) -> None:
    where = path or "body"
    errors = found[0]
    if value is None and schema.get("nullable"):
        return
    if not _type_ok(value, schema):
        kind = _type_name(value)
        detail = f"{where} in body must be of type {schema.get('type')}: {json.dumps(kind)}"
        errors.append(FieldError(where, "Invalid value", kind, detail, type_invalid=True))
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(render_value(v) for v in schema["enum"])
        errors.append(
            FieldError(where, "Unsupported value", value, f"supported values: {supported}")
        )
    if isinstance(value, str):
        _validate_string(value, schema, where, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _validate_number(value, schema, where, errors)
    elif isinstance(value, list):
        _validate_array(value, schema, path, old, found)
    elif isinstance(value, dict):
        _validate_object(value, schema, path, old, found, root)
    _validate_rules(value, schema, where, old, found[1])


def _validate_string(value: str, schema: Schema, where: str, found: list[FieldError]) -> None:
    # kube-openapi's string validator stops at the first of maxLength, minLength, pattern.
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        found.append(
            FieldError(
                where, "Too long", value, f"may not be more than {schema['maxLength']} bytes"
            )
        )
    elif "minLength" in schema and len(value) < schema["minLength"]:
        detail = f"{where} in body should be at least {schema['minLength']} chars long"
        found.append(FieldError(where, "Invalid value", value, detail))
    elif "pattern" in schema and not re.search(schema["pattern"], value):
        detail = f"{where} in body should match '{schema['pattern']}'"
        found.append(FieldError(where, "Invalid value", value, detail))
    if schema.get("format") == "date-time":
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            detail = f"{where} in body must be of type date-time: {json.dumps(value)}"
            found.append(FieldError(where, "Invalid value", value, detail))


def _validate_number(value: float, schema: Schema, where: str, found: list[FieldError]) -> None:
    if "minimum" in schema:
        low = schema["minimum"]
        if value < low or (schema.get("exclusiveMinimum") and value == low):
            op = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
            found.append(
                FieldError(where, "Invalid value", value, f"{where} in body should be {op} {low}")
            )
    if "maximum" in schema:
        high = schema["maximum"]
        if value > high or (schema.get("exclusiveMaximum") and value == high):
            op = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
            found.append(
                FieldError(where, "Invalid value", value, f"{where} in body should be {op} {high}")
            )
    if "multipleOf" in schema and value % schema["multipleOf"]:
        detail = f"{where} in body should be a multiple of {schema['multipleOf']}"
        found.append(FieldError(where, "Invalid value", value, detail))


def _validate_array(value: list[Any], schema: Schema, path: str, old: Any, found: _Found) -> None:
    where = path or "body"
    errors = found[0]
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        detail = f"must have at most {schema['maxItems']} items"
        errors.append(FieldError(where, "Too many", len(value), detail))
    if "minItems" in schema and len(value) < schema["minItems"]:
        detail = f"{where} in body should have at least {schema['minItems']} items"
        errors.append(FieldError(where, "Invalid value", len(value), detail))
    if schema.get("x-kubernetes-list-type") == "set":
        seen: set[str] = set()
        for index, item in enumerate(value):
            token = json.dumps(item, sort_keys=True)
            if token in seen:
                errors.append(FieldError(f"{path}[{index}]", "Duplicate value", item))
            seen.add(token)
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            _validate(item, items, f"{path}[{index}]", None, found)


def _validate_object(
    value: dict[str, Any],
    schema: Schema,
    path: str,
    old: Any,
    found: _Found,
    root: bool,
) -> None:
    old_map = old if isinstance(old, dict) else {}
    for key in schema.get("required") or []:
        if key not in value:
            found[0].append(FieldError(f"{path}.{key}" if path else key, "Required value"))
    props = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for key, child in value.items():
        if root and key in _ROOT_KEEP:
            continue
        child_path = f"{path}.{key}" if path else key
        if key in props:
            _validate(child, props[key], child_path, old_map.get(key), found)
        elif isinstance(additional, dict):
            _validate(child, additional, f"{path}[{key}]", old_map.get(key), found)
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        detail = f"must have at most {schema['maxProperties']} items"
        found[0].append(FieldError(path or "body", "Too many", len(value), detail))


def _validate_rules(
    value: Any, schema: Schema, where: str, old: Any, found: list[FieldError]
) -> None:
    for rule in schema.get("x-kubernetes-validations") or []:
        expr = str(rule.get("rule", ""))
        transition = cel.is_transition_rule(expr)
        if transition and old is None:
            continue
        passed, problem = cel.evaluate(expr, value, old if transition else None)
        if passed:
            continue
        field = where + str(rule.get("fieldPath") or "")
        type_name = schema.get("type") or _type_name(value)
        if problem is not None:
            found.append(FieldError(field, "Invalid value", type_name, problem))
            continue
        message = rule.get("message") or f"failed rule: {expr}"
        if rule.get("messageExpression"):
            message = cel.evaluate_message(rule["messageExpression"], value) or message
        error_type = _CEL_REASONS.get(str(rule.get("reason", "")), "Invalid value")
        # A failed rule shows a scalar's value, never an object's or an array's.
        shown = OMIT if type_name in ("object", "array") else value
        found.append(FieldError(field, error_type, shown, message))
