"""The operator's settings: CLI flags over ``AMISTORE_*`` variables over defaults.

Built and validated once at start; everything else receives a ``Settings``
and never reads the environment itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TypedDict

from amistore_operator.config import flags, modes, sources
from amistore_operator.config import settingvalues as values
from amistore_operator.core import cleanuppermission, export, restorepermission

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")

SettingsError = values.SettingsError


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the operator is told at start."""

    namespaces: tuple[str, ...] = ()
    """
    Namespaces to watch (``--namespace``, repeatable; ``AMISTORE_NAMESPACE``,
    comma separated). Empty: all namespaces (``--all-namespaces``, also the default).
    """

    metrics_port: int = 8000
    """Port of the Prometheus endpoint ``GET /metrics`` (``--metrics-port``)."""

    liveness_port: int = 8080
    """Port of the liveness endpoint ``GET /healthz`` (``--liveness-port``)."""

    poll_interval: float = 60.0
    """Seconds between polls of a resource without ``spec.pollIntervalSeconds``."""

    region: str = ""
    """AWS region of resources without ``spec.region`` (``--region``, ``AWS_REGION``...)."""

    log_format: str = "text"
    """``text`` for people, ``json`` for log pipelines (``--log-format``)."""

    log_level: str = "info"
    """One of debug, info, warning, error (``--log-level``)."""

    ec2_rate: float = 0.5
    """DescribeStoreImageTasks calls per second per region (AWS's refill rate: 0.5)."""

    ec2_burst: int = 50
    """DescribeStoreImageTasks calls the operator may make at once per region (AWS: 50)."""

    stall_after: float = 7200.0
    """
    Seconds without progress after which an InProgress task counts as stalled, for
    resources without ``spec.stallAfterSeconds`` (``--stall-after``,
    ``AMISTORE_STALL_AFTER``); the threshold is at least two effective poll intervals.
    """

    max_task_series: int = 5000
    """
    Tasks per AmiStore that get per-task metric series, newest first
    (``--max-task-series``); ``amistore_task_series_omitted`` counts the rest.
    """

    accounts_file: str = ""
    """
    The cluster admin's account map (``--accounts FILE``, ``AMISTORE_ACCOUNTS``):
    which AWS accounts AmiStores may name in ``spec.account``, the role to assume
    in each and the namespaces allowed to use it; re-read when its content changes.
    Empty: no map, every resource uses the operator's own identity.
    """

    ec2_read_timeout: float = 20.0
    """
    Seconds to wait for an EC2 answer before the attempt counts as failed
    (``AMISTORE_EC2_READ_TIMEOUT`` only: a knob for tests and slow networks, no flag).
    """

    allow_create: bool = False
    """
    Whether AmiStores with ``spec.createTasks`` may start store tasks
    (``--allow-create``, ``AMISTORE_ALLOW_CREATE``). Off: they get ``ExportReady=False``.
    """

    allowed_buckets: tuple[str, ...] = ()
    """
    Shell-style patterns of the buckets AmiStores may export into (``--allowed-buckets``,
    comma separated, repeatable; ``AMISTORE_ALLOWED_BUCKETS``). Empty: none.
    """

    create_namespaces: tuple[str, ...] = ("*",)
    """
    Shell-style patterns of the namespaces whose AmiStores may export
    (``--create-namespaces``, like ``--allowed-buckets``). Default: every namespace.
    """

    ec2_create_rate: float = 0.1
    """CreateStoreImageTask calls per second per (account, region) (AWS's refill rate: 0.1)."""

    ec2_create_burst: int = 50
    """CreateStoreImageTask calls the operator may make at once per (account, region) (AWS: 50)."""

    export_grace: float = 600.0
    """
    Seconds before a request recorded in a status but not listed by AWS may be made
    again (``AMISTORE_EXPORT_GRACE`` only: a knob for tests, no flag; see core.export).
    """

    max_concurrent_stores: int = 20
    """
    The operator's own store tasks in progress per (account, region), requests AWS
    does not list yet included (``--max-concurrent-stores``,
    ``AMISTORE_MAX_CONCURRENT_STORES``); 0: no cap but AWS's. Default 20: AWS's
    1,200 GB of store work in progress holds 20 AMIs of 60 GB.
    """

    allow_deregister: bool = False
    """
    Whether AmiStores with ``spec.afterExport`` other than ``Keep`` may deregister their
    AMIs once exported and verified (``--allow-deregister``, ``AMISTORE_ALLOW_DEREGISTER``).
    Off: they get ``Archived=False`` with reason ``DeregisterNotAllowed``.
    """

    deregister_namespaces: tuple[str, ...] = ("*",)
    """
    Shell-style patterns of the namespaces whose AmiStores may deregister AMIs
    (``--deregister-namespaces``, like ``--create-namespaces``). Default: every namespace.
    """

    allow_restore: bool = False
    """Whether AmiRestores may restore AMIs (``--allow-restore``, ``AMISTORE_ALLOW_RESTORE``)."""

    restore_namespaces: tuple[str, ...] = ("*",)
    """Patterns of the namespaces whose AmiRestores may restore (``--restore-namespaces``)."""

    @property
    def export_permission(self) -> export.Permission:
        """What the export flags allow, for the core's ``ExportReady`` decision."""
        return export.Permission(
            allow_create=self.allow_create,
            allowed_buckets=self.allowed_buckets,
            create_namespaces=self.create_namespaces,
        )

    def cleanup_permission(self) -> cleanuppermission.Permission:
        """What the cleanup flags allow, checked right before each deregistration."""
        return cleanuppermission.Permission(
            allow_deregister=self.allow_deregister,
            deregister_namespaces=self.deregister_namespaces,
        )

    def restore_permission(self) -> restorepermission.Permission:
        """What the restore flags allow, asked before each AmiRestore's AWS calls."""
        return restorepermission.Permission(
            self.allow_restore, self.restore_namespaces, self.allowed_buckets
        )

    @property
    def all_namespaces(self) -> bool:
        """True when the operator watches every namespace."""
        return not self.namespaces


_DEFAULTS = Settings()


def load(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Build and validate the settings; raises SettingsError with one line."""
    given = sources.Sources(flags.build_parser().parse_args(list(argv)), environ)
    # In this order: when two settings are wrong, the first one read is the one reported.
    return Settings(
        **_servers(given),
        **_watched(given),
        **_logging(given),
        **_tracking(given),
        accounts_file=given.pick("--accounts", "AMISTORE_ACCOUNTS", _file, _DEFAULTS.accounts_file),
        **modes.export(given, _DEFAULTS),
        **modes.cleanup(given, _DEFAULTS),
        **modes.restore(given, _DEFAULTS),
        ec2_read_timeout=values.rate(
            "AMISTORE_EC2_READ_TIMEOUT",
            environ.get("AMISTORE_EC2_READ_TIMEOUT", str(_DEFAULTS.ec2_read_timeout)),
        ),
    )


class _Servers(TypedDict):
    metrics_port: int
    liveness_port: int


def _servers(given: sources.Sources) -> _Servers:
    """The ports of the two HTTP servers, which must differ."""
    metrics_port = given.pick(
        "--metrics-port", "AMISTORE_METRICS_PORT", values.port, _DEFAULTS.metrics_port
    )
    liveness_port = given.pick(
        "--liveness-port", "AMISTORE_LIVENESS_PORT", values.port, _DEFAULTS.liveness_port
    )
    if metrics_port == liveness_port:
        raise SettingsError(
            f"--liveness-port: must differ from --metrics-port (both are {metrics_port})"
        )
    return _Servers(metrics_port=metrics_port, liveness_port=liveness_port)


class _Watched(TypedDict):
    namespaces: tuple[str, ...]
    poll_interval: float
    region: str


def _watched(given: sources.Sources) -> _Watched:
    """Which namespaces are watched, and the poll interval and region a spec may leave out."""
    return _Watched(
        namespaces=given.namespaces(),
        poll_interval=given.pick(
            "--poll-interval", "AMISTORE_POLL_INTERVAL", values.interval, _DEFAULTS.poll_interval
        ),
        region=given.region(),
    )


class _Logging(TypedDict):
    log_format: str
    log_level: str


def _logging(given: sources.Sources) -> _Logging:
    """How the operator logs."""
    return _Logging(
        log_format=given.pick(
            "--log-format", "AMISTORE_LOG_FORMAT", values.choice(LOG_FORMATS), _DEFAULTS.log_format
        ),
        log_level=given.pick(
            "--log-level", "AMISTORE_LOG_LEVEL", values.choice(LOG_LEVELS), _DEFAULTS.log_level
        ),
    )


class _Tracking(TypedDict):
    ec2_rate: float
    ec2_burst: int
    stall_after: float
    max_task_series: int


def _tracking(given: sources.Sources) -> _Tracking:
    """The describe budget, the default stall threshold and the per-task series kept."""
    return _Tracking(
        ec2_rate=given.pick("--ec2-rate", "AMISTORE_EC2_RATE", values.rate, _DEFAULTS.ec2_rate),
        ec2_burst=given.pick(
            "--ec2-burst", "AMISTORE_EC2_BURST", values.burst, _DEFAULTS.ec2_burst
        ),
        stall_after=given.pick(
            "--stall-after", "AMISTORE_STALL_AFTER", values.interval, _DEFAULTS.stall_after
        ),
        max_task_series=given.pick(
            "--max-task-series",
            "AMISTORE_MAX_TASK_SERIES",
            values.count,
            _DEFAULTS.max_task_series,
        ),
    )


def _file(source: str, text: str) -> str:
    # Read (and validated) by accountfile at start; a blank one is a mistake, not "none".
    if not text.strip():
        raise SettingsError(f"{source}: must name a file")
    return text
