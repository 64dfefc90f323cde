"""The command line: every flag of ``amistore-operator``, with its help and variable.

Every flag defaults to None, so ``settings.load`` can tell a flag given from
one left to its ``AMISTORE_*`` variable or default; a bad flag raises
``SettingsError`` instead of printing usage and exiting.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

import amistore_operator
from amistore_operator.config import settingvalues as values


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise values.SettingsError(message)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser; every flag defaults to None so the environment can fill it."""
    parser = _Parser(
        prog="amistore-operator",
        allow_abbrev=False,
        description="Kubernetes operator that tracks EC2 AMI store tasks (AMIs exported to S3). "
        "Every flag can also be set as the AMISTORE_* environment variable shown; "
        "a flag wins over its variable.",
    )
    add = parser.add_argument
    add("--version", action="version", version=f"%(prog)s {amistore_operator.__version__}")
    add(
        "--namespace",
        action="append",
        metavar="NS",
        help="watch this namespace; repeatable (AMISTORE_NAMESPACE: comma separated). "
        "Without --namespace the operator watches all namespaces.",
    )
    add(
        "--all-namespaces",
        action="store_true",
        default=None,
        help="watch all namespaces, the default (AMISTORE_ALL_NAMESPACES=true)",
    )
    add(
        "--metrics-port",
        metavar="PORT",
        help="Prometheus /metrics port (AMISTORE_METRICS_PORT; 8000)",
    )
    add("--liveness-port", metavar="PORT", help="/healthz port (AMISTORE_LIVENESS_PORT; 8080)")
    add(
        "--poll-interval",
        metavar="SECONDS",
        help="default seconds between polls, at least 1 (AMISTORE_POLL_INTERVAL; 60)",
    )
    add(
        "--region",
        help="default AWS region (AMISTORE_REGION, else AWS_REGION, else AWS_DEFAULT_REGION)",
    )
    add("--log-format", metavar="text|json", help="log format (AMISTORE_LOG_FORMAT; text)")
    add(
        "--log-level",
        metavar="LEVEL",
        help="debug, info, warning or error (AMISTORE_LOG_LEVEL; info)",
    )
    add(
        "--ec2-rate",
        metavar="PER_SECOND",
        help="DescribeStoreImageTasks calls per second per region; lower it to leave room "
        "for other tools in the account (AMISTORE_EC2_RATE; 0.5, AWS's refill rate)",
    )
    add(
        "--ec2-burst",
        metavar="CALLS",
        help="DescribeStoreImageTasks burst per region (AMISTORE_EC2_BURST; 50, AWS's bucket)",
    )
    add(
        "--stall-after",
        metavar="SECONDS",
        help="default seconds without progress before an InProgress task counts as stalled, "
        "at least 1; at least two effective poll intervals apply (AMISTORE_STALL_AFTER; 7200)",
    )
    add(
        "--max-task-series",
        metavar="TASKS",
        help="tasks per AmiStore with per-task metric series, newest first; 0 for none "
        "(AMISTORE_MAX_TASK_SERIES; 5000)",
    )
    add(
        "--accounts",
        metavar="FILE",
        help="the account map (YAML): account ID -> role ARN, external ID and allowed "
        "namespaces, for spec.account; re-read when it changes (AMISTORE_ACCOUNTS; none)",
    )
    add(
        "--allow-create",
        action="store_true",
        default=None,
        help="let AmiStores with spec.createTasks start store tasks (AMISTORE_ALLOW_CREATE; off)",
    )
    add(
        "--allowed-buckets",
        action="append",
        metavar="PATTERNS",
        help="comma-separated shell-style patterns of the buckets AmiStores may export into, "
        "such as amis-*; repeatable (AMISTORE_ALLOWED_BUCKETS; none)",
    )
    add(
        "--create-namespaces",
        action="append",
        metavar="PATTERNS",
        help="comma-separated shell-style patterns of the namespaces whose AmiStores may "
        "export; repeatable (AMISTORE_CREATE_NAMESPACES; every namespace)",
    )
    add(
        "--ec2-create-rate",
        metavar="PER_SECOND",
        help="CreateStoreImageTask calls per second per region (AMISTORE_EC2_CREATE_RATE; "
        "0.1, AWS's refill rate)",
    )
    add(
        "--ec2-create-burst",
        metavar="CALLS",
        help="CreateStoreImageTask burst per region (AMISTORE_EC2_CREATE_BURST; 50, AWS's bucket)",
    )
    add(
        "--max-concurrent-stores",
        metavar="TASKS",
        help="the operator's own store tasks in progress per account and region; 0: no cap "
        "but AWS's (AMISTORE_MAX_CONCURRENT_STORES; 20)",
    )
    add(
        "--allow-deregister",
        action="store_true",
        default=None,
        help="let AmiStores with spec.afterExport other than Keep deregister their AMIs once "
        "exported and verified (AMISTORE_ALLOW_DEREGISTER; off)",
    )
    add(
        "--deregister-namespaces",
        action="append",
        metavar="PATTERNS",
        help="comma-separated shell-style patterns of the namespaces whose AmiStores may "
        "deregister AMIs; repeatable (AMISTORE_DEREGISTER_NAMESPACES; every namespace)",
    )
    add(
        "--allow-restore",
        action="store_true",
        default=None,
        help="let AmiRestores restore AMIs from buckets matching --allowed-buckets "
        "(AMISTORE_ALLOW_RESTORE; off)",
    )
    add(
        "--restore-namespaces",
        action="append",
        metavar="PATTERNS",
        help="comma-separated shell-style patterns of the namespaces whose AmiRestores may "
        "restore AMIs; repeatable (AMISTORE_RESTORE_NAMESPACES; every namespace)",
    )
    return parser
