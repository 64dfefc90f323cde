"""The control client's calls for AMIs, snapshots and image settings (see control_images_api)."""

from __future__ import annotations

import urllib.parse
from typing import Any, cast


class ImageControl:
    """Mixed into ``control.Ec2SimControl``, which sends the calls."""

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError  # Ec2SimControl's

    def images(self) -> list[dict[str, Any]]:
        """This account's AMIs: owner, name, state, sharing, protection, snapshots."""
        return cast(list[dict[str, Any]], self._call("GET", "images")["images"])

    def image(self, ami_id: str) -> dict[str, Any]:
        """One of this account's AMIs."""
        return cast(dict[str, Any], self._call("GET", f"images/{urllib.parse.quote(ami_id)}"))

    def update_image(self, ami_id: str, **fields: Any) -> dict[str, Any]:
        """Set name, public, user_ids, organization_arns, organizational_unit_arns,
        protection, snapshots or owner (see control_images_api)."""
        path = f"images/{urllib.parse.quote(ami_id)}"
        return cast(dict[str, Any], self._call("POST", path, fields))

    def set_snapshots(self, ami_id: str, volumes: list[int | dict[str, Any]]) -> dict[str, Any]:
        """The AMI's volumes: GiB each, or {"snapshot_id", "size_gib"} to share a snapshot."""
        return self.update_image(ami_id, snapshots=volumes)

    def set_protection(self, ami_id: str, protection: str) -> dict[str, Any]:
        """disabled, enabled or enabled-with-cooldown, as EC2's Enable/Disable calls set it."""
        return self.update_image(ami_id, protection=protection)

    def share_image(
        self,
        ami_id: str,
        *,
        public: bool | None = None,
        user_ids: list[str] | None = None,
        organization_arns: list[str] | None = None,
        organizational_unit_arns: list[str] | None = None,
    ) -> dict[str, Any]:
        """Set the AMI's launch permissions (only those given change)."""
        given = {
            "public": public,
            "user_ids": user_ids,
            "organization_arns": organization_arns,
            "organizational_unit_arns": organizational_unit_arns,
        }
        return self.update_image(ami_id, **{k: v for k, v in given.items() if v is not None})

    def set_image_owner(self, ami_id: str, owner: str) -> dict[str, Any]:
        """Move the AMI (and its unshared snapshots) to another account."""
        return self.update_image(ami_id, owner=owner)

    def snapshots(self) -> list[dict[str, Any]]:
        """This account's snapshots: snapshot_id, size_gib, delete_result."""
        return cast(list[dict[str, Any]], self._call("GET", "snapshots")["snapshots"])

    def set_snapshot_delete_result(self, snapshot_id: str, result: str | None) -> None:
        """What DeregisterImage reports for the snapshot instead of deleting it
        (missing-permissions, internal-error, client-error; None: deleted again)."""
        path = f"snapshots/{urllib.parse.quote(snapshot_id)}"
        self._call("POST", path, {"delete_result": result})

    def image_settings(
        self, *, deregistered_visible_seconds: float | None = None
    ) -> dict[str, Any]:
        """How long a deregistered AMI stays listed as deregistered (default 0)."""
        body = {}
        if deregistered_visible_seconds is not None:
            body["deregistered_visible_seconds"] = deregistered_visible_seconds
        return cast(dict[str, Any], self._call("POST", "image-settings", body))
