"""The control client's calls for S3 objects and buckets (see control_objects_api)."""

from __future__ import annotations

import urllib.parse
from typing import Any, cast


def _path(bucket: str, key: str) -> str:
    return f"objects/{urllib.parse.quote(bucket)}/{urllib.parse.quote(key)}"


class ObjectControl:
    """Mixed into ``control.Ec2SimControl``, which sends the calls."""

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError  # Ec2SimControl's

    def objects(self) -> list[dict[str, Any]]:
        """This account's S3 objects, completed store tasks' included."""
        return cast(list[dict[str, Any]], self._call("GET", "objects")["objects"])

    def object(self, bucket: str, key: str) -> dict[str, Any]:
        """One object: size, etag, last_modified, storage_class, expiration, restore, ..."""
        return cast(dict[str, Any], self._call("GET", _path(bucket, key)))

    def update_object(self, bucket: str, key: str, **fields: Any) -> dict[str, Any]:
        """Set size, storage_class, expiration, restore, archive_status; overwrite=True
        writes it again (new ETag), create=True makes it (see control_objects_api)."""
        return cast(dict[str, Any], self._call("POST", _path(bucket, key), fields))

    def set_expiration(self, bucket: str, key: str, expiry_date: float, rule_id: str) -> None:
        """The lifecycle expiration HeadObject reports (nothing expires by itself)."""
        expiration = {"expiry_date": expiry_date, "rule_id": rule_id}
        self.update_object(bucket, key, expiration=expiration)

    def set_restore(
        self, bucket: str, key: str, *, ongoing: bool, expiry_date: float | None = None
    ) -> None:
        """The x-amz-restore HeadObject reports."""
        restore = {"ongoing": ongoing, "expiry_date": expiry_date}
        self.update_object(bucket, key, restore=restore)

    def overwrite_object(self, bucket: str, key: str) -> dict[str, Any]:
        """Write the object again: a new ETag and Last-Modified."""
        return self.update_object(bucket, key, overwrite=True)

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete the object (a completed task's does not come back)."""
        self._call("DELETE", _path(bucket, key))

    def deny_bucket(self, bucket: str, denied: bool = True) -> None:
        """HeadObject in the bucket answers 403 (or is allowed again)."""
        self._call("POST", f"buckets/{urllib.parse.quote(bucket)}", {"denied": denied})
