"""What the apiserver does with writes: admission, metadata, status subresource, finalizers."""

from __future__ import annotations

import datetime
import json
import random
import re
import uuid
from typing import Any

from tests.sandbox.kubeapi import crds, discovery, errors, patch, schema, store

Obj = dict[str, Any]

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
GENERATE_NAME_TRIES = 8
_SERVER_OWNED = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)


class Cluster:
    """The registry of served types plus the object store, with apiserver write semantics."""

    def __init__(self, history_size: int = 10_000) -> None:
        self.store = store.Store(history_size)
        self.registry = discovery.Registry()
        self._put_new(discovery.NAMESPACES, {"metadata": {"name": "default"}})

    # ----- reads -----

    def get(self, rt: discovery.ResourceType, namespace: str, name: str) -> Obj:
        """One object, or 404."""
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return obj

    def render(self, rt: discovery.ResourceType, obj: Obj) -> Obj:
        """The object as served at this type's version (no conversion beyond apiVersion)."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    # ----- writes -----

    def create(
        self, rt: discovery.ResourceType, namespace: str, body: Obj, validation: str
    ) -> tuple[Obj, list[str]]:
        """POST: 404 for a missing namespace, 409 AlreadyExists, generateName honoured."""
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            if self.store.get(discovery.NAMESPACES.key, "", namespace) is None:
                raise errors.not_found("namespaces", namespace)
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            # Like kube-apiserver 1.30+ (RetryGenerateName): a suffix that collides with an
            # existing name is drawn again, up to 8 tries, before answering 409.
            for _ in range(GENERATE_NAME_TRIES):
                suffix = "".join(random.choices(_SUFFIX_CHARS, k=5))
                meta["name"] = f"{meta['generateName']}{suffix}"
                if self.store.get(rt.key, meta.get("namespace", ""), meta["name"]) is None:
                    break
        name = str(meta.get("name") or "")
        self._check_name(rt, name)
        if self.store.get(rt.key, meta.get("namespace", ""), name) is not None:
            raise errors.already_exists(rt.plural, name, rt.group)
        if rt.status_subresource and rt.custom:
            body.pop("status", None)
        for key in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "resourceVersion",
            "generation",
            "deletionGracePeriodSeconds",
        ):
            meta.pop(key, None)
        warnings = self._admit(rt, body, None, validation)
        return self._put_new(rt, body), warnings

    def replace(
        self,
        rt: discovery.ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        subresource: str | None,
        validation: str,
    ) -> tuple[Obj, list[str]]:
        """PUT: the resourceVersion in the body must be current (required for custom types)."""
        old = self.get(rt, namespace, name)
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise errors.bad_request("the name of the object does not match the name on the URL")
        rv = meta.get("resourceVersion")
        if not rv and rt.custom:
            raise errors.invalid(
                rt.kind,
                rt.group,
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": "Invalid value: 0x0: must be specified for an update",
                        "field": "metadata.resourceVersion",
                    }
                ],
                ["metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"],
            )
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group_resource if rt.group else rt.plural, name)
        return self._update(rt, old, body, subresource, validation)

    def patch(
        self,
        rt: discovery.ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        raw: bytes,
        subresource: str | None,
        validation: str,
    ) -> tuple[Obj, list[str]]:
        """PATCH: merge, JSON, strategic (built-ins only); a stale resourceVersion is 409."""
        old = self.get(rt, namespace, name)
        new = patch.apply(content_type, old, raw, rt.custom)
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group_resource if rt.group else rt.plural, name)
        return self._update(rt, old, new, subresource, validation)

    def delete(
        self, rt: discovery.ResourceType, namespace: str, name: str, options: Obj | None
    ) -> Obj:
        """DELETE: with finalizers, mark for deletion; otherwise remove now."""
        old = self.get(rt, namespace, name)
        meta = old["metadata"]
        expected_rv = ((options or {}).get("preconditions") or {}).get("resourceVersion")
        if expected_rv and expected_rv != meta["resourceVersion"]:
            raise errors.conflict(rt.group_resource if rt.group else rt.plural, name)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return old
            new_meta = {
                **meta,
                "deletionTimestamp": store.now_rfc3339(),
                "deletionGracePeriodSeconds": 0,
            }
            if "generation" in meta:
                new_meta["generation"] = meta["generation"] + 1
            return self.store.put(rt.key, {**old, "metadata": new_meta}, "MODIFIED")
        return self._remove(rt, old)

    # ----- internals -----

    def _check_name(self, rt: discovery.ResourceType, name: str) -> None:
        if not name:
            raise errors.invalid(
                rt.kind,
                rt.group,
                "",
                [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: name or generateName is required",
                        "field": "metadata.name",
                    }
                ],
                ["metadata.name: Required value: name or generateName is required"],
            )
        if len(name) > 253 or not _NAME_RE.match(name):
            detail = (
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character"
            )
            error = schema.FieldError("metadata.name", "Invalid value", name, detail)
            raise errors.invalid(rt.kind, rt.group, name, [error.cause()], [error.text()])

    def _put_new(self, rt: discovery.ResourceType, body: Obj) -> Obj:
        body["apiVersion"] = rt.api_version
        body["kind"] = rt.kind
        meta = body["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = store.now_rfc3339()
        if rt.custom or rt is discovery.CRDS:
            meta["generation"] = 1
        if rt is discovery.NAMESPACES:
            body.setdefault("spec", {"finalizers": ["kubernetes"]})
            body["status"] = {"phase": "Active"}
        if rt is discovery.CRDS:
            body["status"] = crds.status_for(body)
        obj = self.store.put(rt.key, body, "ADDED")
        if rt is discovery.CRDS:
            self.registry.set_crd(meta["name"], discovery.types_from_crd(obj))
        return obj

    def _update(
        self,
        rt: discovery.ResourceType,
        old: Obj,
        new: Obj,
        subresource: str | None,
        validation: str,
    ) -> tuple[Obj, list[str]]:
        old_meta = old["metadata"]
        if subresource == "status":
            candidate: Obj = {**old, "metadata": dict(old_meta)}
            if "status" in new:
                candidate["status"] = new["status"]
            else:
                candidate.pop("status", None)
        else:
            candidate = new
            if rt.status_subresource:
                if "status" in old:
                    candidate["status"] = old["status"]
                else:
                    candidate.pop("status", None)
            meta = dict(candidate.get("metadata") or {})
            for key in _SERVER_OWNED:
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            candidate["metadata"] = meta
        candidate["apiVersion"] = rt.api_version
        candidate["kind"] = rt.kind
        warnings = self._admit(rt, candidate, old, validation)
        if rt is discovery.CRDS:
            candidate["status"] = crds.status_for(candidate)
        meta = candidate["metadata"]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if "generation" in old_meta and _spec_part(rt, candidate) != _spec_part(rt, old):
            meta["generation"] = old_meta["generation"] + 1
        if candidate == old:
            return old, warnings  # a no-op write: no new resourceVersion, no event
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(rt, candidate), warnings
        obj = self.store.put(rt.key, candidate, "MODIFIED")
        if rt is discovery.CRDS:
            self.registry.set_crd(meta["name"], discovery.types_from_crd(obj))
        return obj, warnings

    def _remove(self, rt: discovery.ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        if rt is discovery.NAMESPACES:
            for type_key, bucket in list(self.store.objects.items()):
                for namespace, name in [k for k in bucket if k[0] == meta["name"]]:
                    self.store.remove(type_key, namespace, name)
        if rt is discovery.CRDS:
            dropped = self.registry.by_crd.get(meta["name"], [])
            self.registry.set_crd(meta["name"], [])
            for type_key in {t.key for t in dropped}:
                self.store.drop_type(type_key)
        removed = self.store.remove(rt.key, meta.get("namespace", ""), meta["name"], obj)
        assert removed is not None
        return removed

    def _admit(
        self, rt: discovery.ResourceType, obj: Obj, old: Obj | None, validation: str
    ) -> list[str]:
        """Prune or refuse unknown fields, apply defaults, validate; returns warnings."""
        name = str(obj.get("metadata", {}).get("name", ""))
        if rt.group == "" and rt.plural == "events":
            _event_times(obj)
        if rt is discovery.CRDS:
            found = crds.validate(obj)
            if found:
                raise errors.invalid(
                    rt.kind, rt.group, name, [e.cause() for e in found], [e.text() for e in found]
                )
            return []
        if rt.schema is None:
            return []
        dropped = schema.prune(obj, rt.schema)
        warnings = [f"unknown field {json.dumps(p)}" for p in dropped]
        if dropped and validation == "Strict":
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                "strict decoding error: " + ", ".join(warnings)
            )
        schema.apply_defaults(obj, rt.schema)
        found = schema.validate(obj, rt.schema, old)
        if found:
            raise errors.invalid(
                rt.kind, rt.group, name, [e.cause() for e in found], [e.text() for e in found]
            )
        return warnings if validation == "Warn" else []


def _spec_part(rt: discovery.ResourceType, obj: Obj) -> Obj:
    """What bumps metadata.generation: all but metadata (and status with the subresource)."""
    skip = {"metadata", "status"} if rt.status_subresource else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skip}


# How kube-apiserver stores a core/v1 Event's times: metav1.Time to the second, eventTime
# (metav1.MicroTime) to the microsecond, both in UTC; kopf sends all three to the microsecond.
_EVENT_TIMES = {
    "firstTimestamp": "%Y-%m-%dT%H:%M:%SZ",
    "lastTimestamp": "%Y-%m-%dT%H:%M:%SZ",
    "eventTime": "%Y-%m-%dT%H:%M:%S.%fZ",
}


def _event_times(obj: Obj) -> None:
    for key, layout in _EVENT_TIMES.items():
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            continue
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise errors.bad_request(f"{key}: cannot parse {value!r} as a time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        obj[key] = moment.astimezone(datetime.UTC).strftime(layout)
