"""What the operator's flags allow restores: ``--allow-restore``, ``--restore-namespaces``
and ``--allowed-buckets`` (pure, as ``cleanuppermission``): asked before any AWS call."""

from __future__ import annotations

import dataclasses

from amistore_operator.core import exportready

RESTORE_NOT_ALLOWED = "RestoreNotAllowed"
NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
BUCKET_NOT_ALLOWED = "BucketNotAllowed"


@dataclasses.dataclass(frozen=True)
class Permission:
    """The restore flags: off by default; on, for the namespaces and buckets matching."""

    allow_restore: bool = False
    restore_namespaces: tuple[str, ...] = ("*",)  # shell-style patterns
    allowed_buckets: tuple[str, ...] = ()  # shell-style patterns; none: no bucket

    def refusal(self, namespace: str, bucket: str) -> tuple[str, str] | None:
        """The ``Synced=False`` reason and message refusing the restore; None: allowed."""
        if not self.allow_restore:
            message = "The operator does not restore AMIs (it runs without --allow-restore)"
            return RESTORE_NOT_ALLOWED, message
        if not exportready.matches_any(namespace, self.restore_namespaces):
            message = (
                f'Namespace "{namespace}" matches none of the operator\'s --restore-namespaces'
            )
            return NAMESPACE_NOT_ALLOWED, message
        if not exportready.matches_any(bucket, self.allowed_buckets):
            message = f'Bucket "{bucket}" matches none of the operator\'s --allowed-buckets'
            return BUCKET_NOT_ALLOWED, message
        return None
