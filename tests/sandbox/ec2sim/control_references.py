"""The control client's calls for resources that reference AMIs (see control_references_api)."""

from __future__ import annotations

import urllib.parse
from typing import Any, cast


class ReferenceControl:
    """Mixed into ``control.Ec2SimControl``, which sends the calls."""

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError  # Ec2SimControl's

    def references(self) -> dict[str, list[dict[str, Any]]]:
        """This account's instances, launch templates, SSM parameters and recipes."""
        return cast(dict[str, list[dict[str, Any]]], self._call("GET", "references"))

    def _add(self, key: str, spec: dict[str, Any]) -> dict[str, Any]:
        added = self._call("POST", "references", {key: [spec]})
        group = "named" if key not in ("instances", "launch_templates") else key
        return cast(dict[str, Any], added[group][0])

    def add_instance(
        self, ami_id: str, *, state: str = "running", instance_id: str | None = None
    ) -> str:
        """An instance launched from the AMI; its ID."""
        spec: dict[str, Any] = {"ami_id": ami_id, "state": state}
        if instance_id is not None:
            spec["instance_id"] = instance_id
        return str(self._add("instances", spec)["instance_id"])

    def set_instance_state(self, instance_id: str, state: str) -> None:
        """Move an instance to pending, running, stopping, stopped, shutting-down, terminated."""
        path = f"references/instances/{urllib.parse.quote(instance_id)}"
        self._call("POST", path, {"state": state})

    def add_launch_template(self, versions: list[str | None], *, name: str | None = None) -> str:
        """A launch template whose versions (oldest first) name these AMIs; its ID."""
        spec: dict[str, Any] = {"versions": versions}
        if name is not None:
            spec["name"] = name
        return str(self._add("launch_templates", spec)["launch_template_id"])

    def add_launch_template_version(self, launch_template_id: str, ami_id: str | None) -> int:
        """A new newest version of the template; its number."""
        path = f"references/launch-templates/{urllib.parse.quote(launch_template_id)}"
        return int(self._call("POST", path, {"ami_id": ami_id})["version"])

    def add_ssm_parameter(self, name: str, ami_id: str) -> None:
        """An SSM parameter whose value is the AMI's ID."""
        self._add("ssm_parameters", {"name": name, "ami_id": ami_id})

    def add_recipe(
        self, name: str, ami_id: str, *, version: str = "1.0.0", container: bool = False
    ) -> None:
        """An Image Builder image (or container) recipe whose parent image is the AMI."""
        key = "container_recipes" if container else "image_recipes"
        self._add(key, {"name": name, "version": version, "ami_id": ami_id})

    def remove_reference(self, kind: str, ident: str) -> None:
        """Remove an instance, launch-template, ssm-parameter, image-recipe or
        container-recipe (a recipe's ident is name/version)."""
        self._call("POST", "references/remove", {"kind": kind, "id": ident})
