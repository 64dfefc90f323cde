"""OpenAPI documents: v3 enough for kubectl to see ``fieldValidation`` support, v2 empty."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from tests.sandbox.kubeapi import discovery

Obj = dict[str, Any]

_QUERY_PARAMS = ("fieldValidation", "dryRun", "fieldManager", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rt: discovery.ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _params() -> list[Obj]:
    return [
        {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for name in _QUERY_PARAMS
    ]


def _operation(rt: discovery.ResourceType, verb: str, action: str) -> Obj:
    ref = {"$ref": f"#/components/schemas/{_schema_name(rt)}"}
    return {
        "operationId": f"{verb}{rt.kind}",
        "parameters": _params(),
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": ref}}}
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "version": rt.version,
            "kind": rt.kind,
        },
    }


def _object_schema(rt: discovery.ResourceType) -> Obj:
    schema: Obj = dict(
        rt.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    )
    properties = dict(schema.get("properties") or {})
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    properties["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema["properties"] = properties
    schema["x-kubernetes-group-version-kind"] = [
        {"group": rt.group, "version": rt.version, "kind": rt.kind}
    ]
    return schema


def group_version_doc(registry: discovery.Registry, group: str, version: str) -> Obj | None:
    """The OpenAPI v3 document of one group/version."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths: Obj = {}
    schemas: Obj = {}
    for rt in types:
        base = f"/{_gv_path(group, version)}"
        scope = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{base}/{rt.plural}"
        )
        paths[scope] = {
            "get": _operation(rt, "list", "list"),
            "post": _operation(rt, "create", "post"),
            "parameters": _params(),
        }
        paths[f"{scope}/{{name}}"] = {
            "get": _operation(rt, "read", "get"),
            "put": _operation(rt, "replace", "put"),
            "patch": _operation(rt, "patch", "patch"),
            "delete": _operation(rt, "delete", "delete"),
            "parameters": _params(),
        }
        if rt.status_subresource:
            paths[f"{scope}/{{name}}/status"] = {
                "get": _operation(rt, "read", "get") | {"operationId": f"read{rt.kind}Status"},
                "put": _operation(rt, "replace", "put")
                | {"operationId": f"replace{rt.kind}Status"},
                "patch": _operation(rt, "patch", "patch")
                | {"operationId": f"patch{rt.kind}Status"},
                "parameters": _params(),
            }
        schemas[_schema_name(rt)] = _object_schema(rt)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": discovery.VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def root(registry: discovery.Registry) -> Obj:
    """``/openapi/v3``: one entry per group/version, with a content hash in the URL."""
    entries: Obj = {}
    gvs = [("", "v1")] + [(g, v) for g, vs in registry.group_versions().items() for v in vs]
    for group, version in gvs:
        doc = group_version_doc(registry, group, version)
        digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()
        path = _gv_path(group, version)
        entries[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": entries}


# kubectl falls back to OpenAPI v2 when v3 has no document for an object's group/version
# (a kind the server does not serve), and skips validation of kinds v2 does not define,
# leaving the verdict to the REST mapping ("no matches for kind ..."), as kube-apiserver's
# real v2 document does. An empty gnostic ``openapi_v2.Document`` defines no kind.
V2_MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def v2_document() -> web.Response:
    """``GET /openapi/v2``: a valid document that defines no kind."""
    return web.Response(body=b"", content_type=V2_MEDIA_TYPE)
