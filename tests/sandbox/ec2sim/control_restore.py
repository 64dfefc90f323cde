"""The control client's calls for AMI restores and S3 thaws (see control_restore_api)."""

from __future__ import annotations

import urllib.parse
from typing import Any, cast


class RestoreControl:
    """Mixed into ``control.Ec2SimControl``, which sends the calls."""

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError  # Ec2SimControl's

    def restore_settings(
        self,
        *,
        restore_duration_seconds: float | None = None,
        restore_capacity_gb: float | None = None,
        thaw_seconds: dict[str, dict[str, float | None]] | None = None,
        day_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Change how CreateRestoreImageTask and RestoreObject behave (only what is given);
        the settings now and this account's ``in_progress_gb``. ``restore_capacity_gb=0``
        means unlimited."""
        given = {
            "restore_duration_seconds": restore_duration_seconds,
            "restore_capacity_gb": restore_capacity_gb,
            "thaw_seconds": thaw_seconds,
            "day_seconds": day_seconds,
        }
        body = {k: v for k, v in given.items() if v is not None}
        return cast(dict[str, Any], self._call("POST", "restore-settings", body))

    def set_thaw_seconds(self, archive: str, **tiers: float | None) -> dict[str, Any]:
        """How long RestoreObject takes per tier for GLACIER or DEEP_ARCHIVE objects."""
        return self.restore_settings(thaw_seconds={archive: dict(tiers)})

    def set_storage_class(
        self, bucket: str, key: str, storage_class: str, archive_status: str | None = None
    ) -> dict[str, Any]:
        """Move an object to a storage class (and an INTELLIGENT_TIERING archive tier);
        any restore or thaw it had goes."""
        path = f"objects/{urllib.parse.quote(bucket)}/{urllib.parse.quote(key)}"
        body = {"storage_class": storage_class, "archive_status": archive_status, "restore": None}
        return cast(dict[str, Any], self._call("POST", path, body))

    def restored_images(self) -> list[dict[str, Any]]:
        """This account's restored AMIs: state, progress, state_reason, bucket, key, ..."""
        return cast(list[dict[str, Any]], self._call("GET", "restores")["restores"])

    def restored_image(self, ami_id: str) -> dict[str, Any]:
        """One restored AMI."""
        return cast(dict[str, Any], self._call("GET", f"restores/{urllib.parse.quote(ami_id)}"))

    def update_restored_image(self, ami_id: str, **fields: Any) -> dict[str, Any]:
        """Set progress, state (pending, available, failed), reason, duration_seconds."""
        path = f"restores/{urllib.parse.quote(ami_id)}"
        return cast(dict[str, Any], self._call("POST", path, fields))

    def complete_restore(self, ami_id: str) -> dict[str, Any]:
        """Make the restored AMI available now."""
        return self.update_restored_image(ami_id, state="available")

    def fail_restore(
        self, ami_id: str, code: str | None = None, message: str | None = None
    ) -> dict[str, Any]:
        """Fail the restored AMI now with this StateReason (ours by default)."""
        if code is None or message is None:
            return self.update_restored_image(ami_id, state="failed")
        reason = {"code": code, "message": message}
        return self.update_restored_image(ami_id, state="failed", reason=reason)

    def restore_object_calls(self) -> list[dict[str, Any]]:
        """The RestoreObject calls logged, oldest first."""
        query = urllib.parse.urlencode({"action": "RestoreObject"})
        return cast(list[dict[str, Any]], self._call("GET", f"calls?{query}")["calls"])
