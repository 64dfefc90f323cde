"""Resource types served (built-ins and CRD-defined) and the discovery documents."""

from __future__ import annotations

import dataclasses
from typing import Any

Obj = dict[str, Any]

VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
# What the real kube-apiserver of `make realkube` answers, the release the emulator follows.
VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.2",
    "gitCommit": "",
    "gitTreeState": "archive",
    "buildDate": "2026-10-27T12:01:04Z",
    "goVersion": "go1.26.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One served resource at one group/version."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    schema: Obj | None = None  # openAPIV3Schema; None: no validation nor pruning
    printer_columns: tuple[Obj, ...] = ()
    custom: bool = False  # a CRD's resource (strategic merge patch is refused)

    @property
    def key(self) -> tuple[str, str]:
        """The storage key: one bucket per group and plural, shared by all versions."""
        return (self.group, self.plural)

    @property
    def api_version(self) -> str:
        """``group/version`` or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``plural.group`` as error messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


NAMESPACES = ResourceType(
    "", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), status_subresource=True
)
EVENTS = ResourceType("", "v1", "events", "event", "Event", True, ("ev",))
CRDS = ResourceType(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "customresourcedefinition",
    "CustomResourceDefinition",
    False,
    ("crd", "crds"),
    ("api-extensions",),
    status_subresource=True,
)
BUILTINS = (NAMESPACES, EVENTS, CRDS)


def types_from_crd(crd: Obj) -> list[ResourceType]:
    """The served resource types a CRD defines."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    kind = names.get("kind", "")
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        out.append(
            ResourceType(
                group=spec.get("group", ""),
                version=version["name"],
                plural=names.get("plural", ""),
                singular=names.get("singular") or kind.lower(),
                kind=kind,
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in (version.get("subresources") or {}),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                custom=True,
            )
        )
    return out


class Registry:
    """Which resource types are served right now."""

    def __init__(self) -> None:
        self.types: dict[tuple[str, str, str], ResourceType] = {}
        self.by_crd: dict[str, list[ResourceType]] = {}
        for builtin in BUILTINS:
            self.types[(builtin.group, builtin.version, builtin.plural)] = builtin

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at that path, if any."""
        return self.types.get((group, version, plural))

    def set_crd(self, name: str, types: list[ResourceType]) -> None:
        """Serve (or re-serve) a CRD's types; an empty list stops serving them."""
        for old in self.by_crd.pop(name, []):
            self.types.pop((old.group, old.version, old.plural), None)
        if types:
            self.by_crd[name] = types
            for rt in types:
                self.types[(rt.group, rt.version, rt.plural)] = rt

    def group_versions(self) -> dict[str, list[str]]:
        """Non-core groups and their versions, in a stable order."""
        groups: dict[str, list[str]] = {}
        for group, version, _ in self.types:
            if group and version not in groups.setdefault(group, []):
                groups[group].append(version)
        return groups

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """Types of one group/version."""
        return [rt for (g, v, _), rt in self.types.items() if g == group and v == version]


def _preferred(versions: list[str]) -> str:
    # Kubernetes ranks GA over beta over alpha; good enough: prefer names without a letter tail.
    ranked = sorted(versions, key=lambda v: ("alpha" in v, "beta" in v))
    return ranked[0]


def api_versions(server_address: str) -> Obj:
    """``/api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list(registry: Registry) -> Obj:
    """``/apis``."""
    groups = []
    for group, versions in registry.group_versions().items():
        preferred = _preferred(versions)
        groups.append(
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
            }
        )
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> Obj | None:
    """``/apis/<group>``."""
    versions = registry.group_versions().get(group)
    if not versions:
        return None
    preferred = _preferred(versions)
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
    }


def resource_list(registry: Registry, group: str, version: str) -> Obj | None:
    """``/api/v1`` or ``/apis/<group>/<version>``: an APIResourceList."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources: list[Obj] = []
    for rt in sorted(types, key=lambda t: t.plural):
        entry: Obj = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(VERBS),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        if rt.status_subresource:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
