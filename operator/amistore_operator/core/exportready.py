"""Who may export where: the operator's flags, IAM's DryRun verdict, the ``ExportReady`` condition.

Pure, like ``export``: the flags (``Permission``) and the last DryRun's answer
(``Verdict``) in, the condition out; ``export.decide`` creates only while it is true.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence

from amistore_operator.core import model

CONDITION = "ExportReady"
READY = "Ready"
CREATE_NOT_ALLOWED = "CreateNotAllowed"
BUCKET_NOT_ALLOWED = "BucketNotAllowed"
NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
ACCESS_DENIED = "AccessDenied"
ACCOUNT_NOT_ALLOWED = "AccountNotAllowed"
CREATE_ACTION = "ec2:CreateStoreImageTask"

Condition = tuple[str, str, str, str]


@dataclasses.dataclass(frozen=True)
class Permission:
    """What the operator's flags allow: ``--allow-create``, buckets, namespaces."""

    allow_create: bool = False
    allowed_buckets: tuple[str, ...] = ()  # shell-style patterns; none: no bucket
    create_namespaces: tuple[str, ...] = ("*",)  # shell-style patterns


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The DryRun verdict for (account, region, bucket)."""

    checked: float  # monotonic seconds
    denied: str | None = None  # AWS's code and message when refused
    tried: tuple[str, ...] = ()  # AMIs refused since the last pass


def matches_any(value: str, patterns: Sequence[str]) -> bool:
    """Whether ``value`` matches one of the shell-style ``patterns`` (case-sensitive)."""
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def export_ready(
    spec: model.AmiStoreSpec,
    namespace: str,
    permission: Permission,
    access_denied: str | None = None,
    account_denied: str | None = None,
) -> Condition | None:
    """The ``ExportReady`` condition (type, status, reason, message); None without createTasks."""
    if not spec.create_tasks:
        return None
    bucket = spec.bucket or ""
    refusal: tuple[str, str] | None = None
    if not permission.allow_create:
        refusal = (
            CREATE_NOT_ALLOWED,
            "The operator does not create store tasks (it runs without --allow-create)",
        )
    elif not matches_any(bucket, permission.allowed_buckets):
        refusal = (
            BUCKET_NOT_ALLOWED,
            f'Bucket "{bucket}" matches none of the operator\'s --allowed-buckets',
        )
    elif not matches_any(namespace, permission.create_namespaces):
        refusal = (
            NAMESPACE_NOT_ALLOWED,
            f'Namespace "{namespace}" matches none of the operator\'s --create-namespaces',
        )
    elif account_denied is not None:
        refusal = (ACCOUNT_NOT_ALLOWED, account_denied)
    elif access_denied is not None:
        refusal = (ACCESS_DENIED, f"Not allowed to call {CREATE_ACTION}: {access_denied}")
    if refusal is not None:
        return (CONDITION, "False", *refusal)
    return (CONDITION, "True", READY, f'Store tasks into "{bucket}" are started as needed')


def is_ready(condition: Condition | None) -> bool:
    """Whether an ``ExportReady`` condition allows creating."""
    return condition is not None and condition[1] == "True"
