"""The settings of the modes that change things in AWS, each off until its flag turns it on.

Export (``--allow-create``: start store tasks), cleanup (``--allow-deregister``:
deregister exported AMIs) and restore (``--allow-restore``: AmiRestores);
``settings.load`` reads each group here, in this order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from amistore_operator.config import settingvalues as values
from amistore_operator.config import sources

if TYPE_CHECKING:
    from amistore_operator.config import settings


class Export(TypedDict):
    allow_create: bool
    allowed_buckets: tuple[str, ...]
    create_namespaces: tuple[str, ...]
    ec2_create_rate: float
    ec2_create_burst: int
    max_concurrent_stores: int
    export_grace: float


def export(given: sources.Sources, defaults: settings.Settings) -> Export:
    """Export mode: whether it is on, for which buckets and namespaces, and its budget."""
    return Export(
        allow_create=given.switch("--allow-create", "AMISTORE_ALLOW_CREATE"),
        allowed_buckets=given.patterns(
            "--allowed-buckets", "AMISTORE_ALLOWED_BUCKETS", defaults.allowed_buckets
        ),
        create_namespaces=given.patterns(
            "--create-namespaces", "AMISTORE_CREATE_NAMESPACES", defaults.create_namespaces
        ),
        ec2_create_rate=given.pick(
            "--ec2-create-rate", "AMISTORE_EC2_CREATE_RATE", values.rate, defaults.ec2_create_rate
        ),
        ec2_create_burst=given.pick(
            "--ec2-create-burst",
            "AMISTORE_EC2_CREATE_BURST",
            values.burst,
            defaults.ec2_create_burst,
        ),
        max_concurrent_stores=given.pick(
            "--max-concurrent-stores",
            "AMISTORE_MAX_CONCURRENT_STORES",
            values.count,
            defaults.max_concurrent_stores,
        ),
        export_grace=values.interval(
            "AMISTORE_EXPORT_GRACE",
            given.environ.get("AMISTORE_EXPORT_GRACE", str(defaults.export_grace)),
        ),
    )


class Cleanup(TypedDict):
    allow_deregister: bool
    deregister_namespaces: tuple[str, ...]


def cleanup(given: sources.Sources, defaults: settings.Settings) -> Cleanup:
    """Cleanup mode: whether AMIs may be deregistered, and for which namespaces."""
    return Cleanup(
        allow_deregister=given.switch("--allow-deregister", "AMISTORE_ALLOW_DEREGISTER"),
        deregister_namespaces=given.patterns(
            "--deregister-namespaces",
            "AMISTORE_DEREGISTER_NAMESPACES",
            defaults.deregister_namespaces,
        ),
    )


class Restore(TypedDict):
    allow_restore: bool
    restore_namespaces: tuple[str, ...]


def restore(given: sources.Sources, defaults: settings.Settings) -> Restore:
    """Restore mode: whether AmiRestores may restore AMIs, and for which namespaces."""
    return Restore(
        allow_restore=given.switch("--allow-restore", "AMISTORE_ALLOW_RESTORE"),
        restore_namespaces=given.patterns(
            "--restore-namespaces", "AMISTORE_RESTORE_NAMESPACES", defaults.restore_namespaces
        ),
    )
