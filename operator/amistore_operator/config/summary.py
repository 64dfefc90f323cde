"""The operator's start-up lines: what it watches and spends, and one per optional mode."""

from __future__ import annotations

import logging

from amistore_operator.config import accountfile, settings

logger = logging.getLogger("amistore_operator.cli")


def log_start(config: settings.Settings, account_file: accountfile.AccountFile) -> None:
    """One line of what the operator watches and spends, and one per optional feature."""
    logger.info(
        "Starting: %s, region %s, poll interval %ss, EC2 budget %s/s burst %s, metrics :%s",
        "all namespaces" if config.all_namespaces else "namespaces " + ",".join(config.namespaces),
        config.region,
        config.poll_interval,
        config.ec2_rate,
        config.ec2_burst,
        config.metrics_port,
    )
    if config.allow_create:
        logger.info(
            "Export mode: buckets %s, namespaces %s, CreateStoreImageTask budget %s/s burst %s",
            ",".join(config.allowed_buckets) or "none",
            ",".join(config.create_namespaces),
            config.ec2_create_rate,
            config.ec2_create_burst,
        )
    if config.allow_restore:
        logger.info(
            "Restore (AmiRestore): buckets %s, namespaces %s",
            ",".join(config.allowed_buckets) or "none",
            ",".join(config.restore_namespaces),
        )
    if config.allow_deregister:
        logger.info(
            "Cleanup (afterExport): DeregisterImage allowed, namespaces %s",
            ",".join(config.deregister_namespaces),
        )
    if config.accounts_file:
        logger.info(
            "Account map %s: %d accounts, own identity for %s",
            config.accounts_file,
            len(account_file.map().accounts),
            ", ".join(account_file.map().default_namespaces) or "no namespace",
        )
