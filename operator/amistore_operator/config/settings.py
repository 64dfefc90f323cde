"""The operator's settings: CLI flags over ``AMISTORE_*`` variables over defaults.

Built and validated once at start; everything else receives a ``Settings``
and never reads the environment itself.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from amistore_operator.config import flags
from amistore_operator.config import settingvalues as values
from amistore_operator.core import export, spec

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")

T = TypeVar("T")


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

    @property
    def export_permission(self) -> export.Permission:
        """What the export flags allow, for the core's ``ExportReady`` decision."""
        return export.Permission(
            allow_create=self.allow_create,
            allowed_buckets=self.allowed_buckets,
            create_namespaces=self.create_namespaces,
        )

    @property
    def all_namespaces(self) -> bool:
        """True when the operator watches every namespace."""
        return not self.namespaces


def load(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Build and validate the settings; raises SettingsError with one line."""
    args = flags.build_parser().parse_args(list(argv))
    defaults = Settings()

    def pick(flag: str, env: str, parse: Callable[[str, str], T], default: T) -> T:
        value = getattr(args, flag.removeprefix("--").replace("-", "_"))
        if value is not None:
            return parse(flag, value)
        if env in environ:
            return parse(env, environ[env])
        return default

    metrics_port = pick(
        "--metrics-port", "AMISTORE_METRICS_PORT", values.port, defaults.metrics_port
    )
    liveness_port = pick(
        "--liveness-port", "AMISTORE_LIVENESS_PORT", values.port, defaults.liveness_port
    )
    if metrics_port == liveness_port:
        raise SettingsError(
            f"--liveness-port: must differ from --metrics-port (both are {metrics_port})"
        )
    return Settings(
        namespaces=_namespaces(args, environ),
        metrics_port=metrics_port,
        liveness_port=liveness_port,
        poll_interval=pick(
            "--poll-interval", "AMISTORE_POLL_INTERVAL", values.interval, defaults.poll_interval
        ),
        region=_region(args.region, environ),
        log_format=pick(
            "--log-format", "AMISTORE_LOG_FORMAT", values.choice(LOG_FORMATS), defaults.log_format
        ),
        log_level=pick(
            "--log-level", "AMISTORE_LOG_LEVEL", values.choice(LOG_LEVELS), defaults.log_level
        ),
        ec2_rate=pick("--ec2-rate", "AMISTORE_EC2_RATE", values.rate, defaults.ec2_rate),
        ec2_burst=pick("--ec2-burst", "AMISTORE_EC2_BURST", values.burst, defaults.ec2_burst),
        stall_after=pick(
            "--stall-after", "AMISTORE_STALL_AFTER", values.interval, defaults.stall_after
        ),
        max_task_series=pick(
            "--max-task-series", "AMISTORE_MAX_TASK_SERIES", values.count, defaults.max_task_series
        ),
        accounts_file=pick("--accounts", "AMISTORE_ACCOUNTS", _file, defaults.accounts_file),
        allow_create=(
            True
            if args.allow_create
            else values.boolean("AMISTORE_ALLOW_CREATE", environ.get("AMISTORE_ALLOW_CREATE", ""))
        ),
        allowed_buckets=_patterns(
            "--allowed-buckets", args.allowed_buckets, "AMISTORE_ALLOWED_BUCKETS", environ, ()
        ),
        create_namespaces=_patterns(
            "--create-namespaces",
            args.create_namespaces,
            "AMISTORE_CREATE_NAMESPACES",
            environ,
            defaults.create_namespaces,
        ),
        ec2_create_rate=pick(
            "--ec2-create-rate", "AMISTORE_EC2_CREATE_RATE", values.rate, defaults.ec2_create_rate
        ),
        ec2_create_burst=pick(
            "--ec2-create-burst",
            "AMISTORE_EC2_CREATE_BURST",
            values.burst,
            defaults.ec2_create_burst,
        ),
        max_concurrent_stores=pick(
            "--max-concurrent-stores",
            "AMISTORE_MAX_CONCURRENT_STORES",
            values.count,
            defaults.max_concurrent_stores,
        ),
        export_grace=values.interval(
            "AMISTORE_EXPORT_GRACE",
            environ.get("AMISTORE_EXPORT_GRACE", str(defaults.export_grace)),
        ),
        ec2_read_timeout=values.rate(
            "AMISTORE_EC2_READ_TIMEOUT",
            environ.get("AMISTORE_EC2_READ_TIMEOUT", str(defaults.ec2_read_timeout)),
        ),
    )


def _namespaces(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str, ...]:
    if args.namespace and args.all_namespaces:
        raise SettingsError("--all-namespaces: cannot be combined with --namespace")
    if args.all_namespaces:
        return ()
    if args.namespace:
        return values.namespace_list("--namespace", args.namespace)
    every = values.boolean("AMISTORE_ALL_NAMESPACES", environ.get("AMISTORE_ALL_NAMESPACES", ""))
    listed = [n.strip() for n in environ.get("AMISTORE_NAMESPACE", "").split(",") if n.strip()]
    if every and listed:
        raise SettingsError(
            "AMISTORE_ALL_NAMESPACES: cannot be true when AMISTORE_NAMESPACE is set"
        )
    return values.namespace_list("AMISTORE_NAMESPACE", listed)


def _patterns(
    flag: str,
    given: Sequence[str] | None,
    env: str,
    environ: Mapping[str, str],
    default: tuple[str, ...],
) -> tuple[str, ...]:
    if given is not None:
        return values.patterns(flag, given)
    if env in environ:
        return values.patterns(env, [environ[env]])
    return default


def _file(source: str, text: str) -> str:
    # Read (and validated) by accountfile at start; a blank one is a mistake, not "none".
    if not text.strip():
        raise SettingsError(f"{source}: must name a file")
    return text


def _region(flag: str | None, environ: Mapping[str, str]) -> str:
    candidates = [("--region", flag)] + [
        (name, environ.get(name))
        for name in ("AMISTORE_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
    ]
    for source, value in candidates:
        if value:
            if not spec.is_valid_region(value):
                raise SettingsError(
                    f'{source}: "{value}" is not an AWS region name (such as eu-west-1)'
                )
            return value
    raise SettingsError("no AWS region: set --region, AMISTORE_REGION or AWS_REGION")
