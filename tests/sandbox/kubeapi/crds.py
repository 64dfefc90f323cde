"""CustomResourceDefinition admission and status, as apiextensions-apiserver does it."""

from __future__ import annotations

from typing import Any

from tests.sandbox.kubeapi import schema, store

Obj = dict[str, Any]


def validate(crd: Obj) -> list[schema.FieldError]:
    """Errors that make the apiserver refuse a CRD (the subset this project meets)."""
    found: list[schema.FieldError] = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    name = (crd.get("metadata") or {}).get("name", "")
    if not group:
        found.append(schema.FieldError("spec.group", "Required value"))
    if not plural:
        found.append(schema.FieldError("spec.names.plural", "Required value"))
    if not names.get("kind"):
        found.append(schema.FieldError("spec.names.kind", "Required value"))
    if plural and group and name != f"{plural}.{group}":
        found.append(
            schema.FieldError(
                "metadata.name", "Invalid value", name, 'must be spec.names.plural+"."+spec.group'
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        found.append(
            schema.FieldError(
                "spec.scope",
                "Unsupported value",
                spec.get("scope", ""),
                'supported values: "Cluster", "Namespaced"',
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        found.append(
            schema.FieldError(
                "spec.versions",
                "Invalid value",
                [],
                "must have exactly one version marked as storage version",
            )
        )
    elif sum(1 for v in versions if v.get("storage")) != 1:
        found.append(
            schema.FieldError(
                "spec.versions",
                "Invalid value",
                [v.get("name") for v in versions],
                "must have exactly one version marked as storage version",
            )
        )
    for index, version in enumerate(versions):
        path = f"spec.versions[{index}].schema.openAPIV3Schema"
        found += schema.check_structural((version.get("schema") or {}).get("openAPIV3Schema"), path)
    return found


def status_for(crd: Obj) -> Obj:
    """Established and NamesAccepted, accepted names with defaults, stored versions."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    kind = names.get("kind", "")
    names.setdefault("singular", kind.lower())
    names.setdefault("listKind", f"{kind}List")
    old = crd.get("status") or {}
    since = {c.get("type"): c.get("lastTransitionTime") for c in old.get("conditions") or []}
    now = store.now_rfc3339()
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
            "lastTransitionTime": since.get("NamesAccepted") or now,
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
            "lastTransitionTime": since.get("Established") or now,
        },
    ]
    stored = list(old.get("storedVersions") or [])
    for version in spec.get("versions") or []:
        if version.get("storage") and version.get("name") not in stored:
            stored.append(version["name"])
    return {"conditions": conditions, "acceptedNames": names, "storedVersions": stored}
