"""PATCH bodies: JSON merge patch (also used for strategic merge on built-ins) and JSON patch."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch

from tests.sandbox.kubeapi import errors

MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
_REJECTED = "the server rejected our request due to an error in our request"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply(content_type: str, obj: dict[str, Any], raw: bytes, custom: bool) -> dict[str, Any]:
    """The object after the patch; raises ApiError like the apiserver."""
    kind = content_type.split(";")[0].strip()
    if kind == STRATEGIC and custom:
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            f"application/json-patch+json, {MERGE}, {APPLY}",
        )
    if kind not in (MERGE, JSON, STRATEGIC):
        raise errors.ApiError(
            415, "UnsupportedMediaType", f"the server does not support the media type {kind!r}"
        )
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from exc
    if kind == JSON:
        if not isinstance(body, list):
            raise errors.bad_request(
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
            )
        try:
            patched = jsonpatch.JsonPatch(body).apply(copy.deepcopy(obj))
        except jsonpatch.JsonPatchTestFailed as exc:
            raise errors.ApiError(
                422,
                "Invalid",
                f"{_REJECTED}: testing value failed: {exc}",
            ) from exc
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise errors.ApiError(
                422,
                "Invalid",
                f"{_REJECTED}: {exc}",
            ) from exc
        if not isinstance(patched, dict):
            raise errors.ApiError(422, "Invalid", "the patched object is not an object")
        return patched
    if not isinstance(body, dict):
        raise errors.bad_request("the patch is not a JSON object")
    if kind == STRATEGIC:
        body = _without_directives(body)
    result = merge_patch(copy.deepcopy(obj), body)
    assert isinstance(result, dict)
    return result


def _without_directives(patch: Any) -> Any:
    """A strategic merge patch read as a merge patch: ``$patch``-style directives dropped."""
    if isinstance(patch, dict):
        return {k: _without_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [_without_directives(v) for v in patch]
    return patch
