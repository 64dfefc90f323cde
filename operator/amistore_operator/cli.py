"""The ``amistore-operator`` command: settings, logging, servers, then kopf."""

from __future__ import annotations

import datetime
import logging
import os
import socket
import sys
import threading
from collections.abc import Sequence
from wsgiref import simple_server

import kopf

from amistore_operator.aws import create, credentials, ec2, images, objects, restores, threads
from amistore_operator.config import accountfile, settings, summary
from amistore_operator.kube import handlers, logs
from amistore_operator.observe import metrics, restoremetrics, webserver
from amistore_operator.polling import hub as poller_hub
from amistore_operator.reconcile import exporter, restorer, service

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """A problem the user can fix, reported as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the operator until SIGTERM/SIGINT; exit 0 then, 2 on bad settings, 1 on start faults."""
    try:
        config = settings.load(sys.argv[1:] if argv is None else argv, os.environ)
        account_file = accountfile.AccountFile(config.accounts_file)
    except settings.SettingsError as exc:
        print(f"amistore-operator: error: {exc}", file=sys.stderr)
        return 2
    logs.configure(log_format=config.log_format, log_level=config.log_level)
    try:
        run(config, account_file)
    except StartupError as exc:
        print(f"amistore-operator: error: {exc}", file=sys.stderr)
        return 1
    return 0


def run(config: settings.Settings, account_file: accountfile.AccountFile | None = None) -> None:
    """Start the metrics server and kopf with our handlers; return when kopf stops."""
    account_file = account_file or accountfile.AccountFile("")
    _check_port_free(config.liveness_port, "--liveness-port")
    collector, operator_metrics, metrics_server, restore_series = _start_metrics(config)
    identities = _start_identities(config, account_file)
    svc, hub, exports = _build_service(
        config, account_file, identities, collector, operator_metrics
    )

    restore_svc = _build_restores(
        config, account_file, identities, operator_metrics, restore_series, hub, exports
    )
    kopf_registry = kopf.OperatorRegistry()
    handlers.register(kopf_registry, svc, cluster_wide=config.all_namespaces, restores=restore_svc)
    summary.log_start(config, account_file)
    try:
        kopf.run(
            registry=kopf_registry,
            standalone=True,
            clusterwide=config.all_namespaces,
            namespaces=config.namespaces,
            liveness_endpoint=f"http://0.0.0.0:{config.liveness_port}/healthz",
        )
    finally:
        metrics_server.shutdown()
    logger.info("Stopped.")


def _start_metrics(
    config: settings.Settings,
) -> tuple[
    metrics.TaskCollector,
    metrics.OperatorMetrics,
    simple_server.WSGIServer,
    restoremetrics.RestoreCollector,
]:
    """The metrics and the server of ``GET /metrics``; StartupError if its port is taken."""
    registry, collector, operator_metrics = metrics.build_registry(config.max_task_series)
    restore_series = restoremetrics.RestoreCollector()
    registry.register(restore_series)
    try:
        metrics_server = webserver.serve_metrics(registry, port=config.metrics_port)
    except OSError as exc:
        raise StartupError(
            f"--metrics-port {config.metrics_port}: cannot listen ({exc.strerror or exc})"
        ) from None
    return collector, operator_metrics, metrics_server, restore_series


def _start_identities(
    config: settings.Settings, account_file: accountfile.AccountFile
) -> credentials.Identities:
    """The AWS side: each account's credentials, and the own account learnt in a thread."""
    identities = credentials.Identities(account_map=account_file.map, sts_region=config.region)
    # status.account of resources without spec.account; STS may be slow or unreachable.
    threading.Thread(
        target=identities.resolve_own_account_until_known, name="own-account", daemon=True
    ).start()
    return identities


def _build_service(
    config: settings.Settings,
    account_file: accountfile.AccountFile,
    identities: credentials.Identities,
    collector: metrics.TaskCollector,
    operator_metrics: metrics.OperatorMetrics,
) -> tuple[service.AmiStoreService, poller_hub.PollerHub, exporter.Exporter]:
    """One poll of a resource: the shared poller, the exporter and the service over them."""
    hub = _build_hub(config, identities, operator_metrics)
    exports = _build_exporter(config, identities, operator_metrics)

    def object_client_for(account: str, region: str) -> objects.ObjectClient:
        # verifyObjects: HeadObject with the account's credentials, in the region polled.
        return identities.object_client(
            account, region, metrics=operator_metrics, read_timeout=config.ec2_read_timeout
        )

    def image_client_for(account: str, region: str) -> images.ImageClient:
        # afterExport: reads paid from the describe budget, DeregisterImage from the create one.
        return identities.image_client(
            account,
            region,
            metrics=operator_metrics,
            on_read_attempt=hub.attempt_hook(region, account),
            on_write_attempt=exports.attempt_hook(region, account),
            read_timeout=config.ec2_read_timeout,
        )

    svc = service.AmiStoreService(
        hub=hub,
        collector=collector,
        default_region=config.region,
        default_interval=config.poll_interval,
        default_stall_after=config.stall_after,
        account_map=account_file.map,
        own_account=lambda: identities.own_account,
        watch_accounts=lambda on_change: account_file.watch(
            on_change, every=min(accountfile.CHECK_SECONDS, config.poll_interval)
        ),
        exports=exports,
        objects=object_client_for,
        images=image_client_for,
        cleanup=config.cleanup_permission(),
        runner=threads.run,
    )
    return svc, hub, exports


def _build_restores(
    config: settings.Settings,
    account_file: accountfile.AccountFile,
    identities: credentials.Identities,
    operator_metrics: metrics.OperatorMetrics,
    restore_series: restoremetrics.RestoreCollector,
    hub: poller_hub.PollerHub,
    exports: exporter.Exporter,
) -> restorer.RestoreService:
    """AmiRestores' service: their calls within each (account, region)'s budgets."""

    def restore_client_for(account: str, region: str) -> restores.RestoreClient:
        # AmiRestore: reads paid from the describe budget, its creates from the create one.
        return identities.made(
            account,
            lambda session, label: restores.make_client(
                region,
                session=session,
                on_read_attempt=hub.attempt_hook(region, account),
                on_write_attempt=exports.attempt_hook(region, account),
                metrics=operator_metrics,
                s3_metrics=operator_metrics,
                read_timeout=config.ec2_read_timeout,
                account=label,
            ),
        )

    return restorer.RestoreService(
        clients=restore_client_for,
        permission=config.restore_permission(),
        default_region=config.region,
        default_interval=config.poll_interval,
        clock=service.utcnow,
        account_map=account_file.map,
        own_account=lambda: identities.own_account,
        runner=threads.run,
        gauges=restore_series.render,
    )


def _build_hub(
    config: settings.Settings,
    identities: credentials.Identities,
    operator_metrics: metrics.OperatorMetrics,
) -> poller_hub.PollerHub:
    """The shared pollers, one per (account, region), within the describe budget."""

    def client_for(account: str, region: str) -> ec2.StoreTaskClient:
        # Every HTTP attempt, botocore's retries included, is paid from the budget of the
        # account in the region; the account's session is shared by all its regions.
        return identities.ec2_client(
            account,
            region,
            metrics=operator_metrics,
            on_attempt=hub.attempt_hook(region, account),
            read_timeout=config.ec2_read_timeout,
        )

    hub = poller_hub.PollerHub(
        client_factory=client_for,
        rate=config.ec2_rate,
        # One token in reserve: AWS's bucket sees a call when it arrives, ours when we pay,
        # and a slow first call of a burst would otherwise leave AWS one short at its end.
        burst=max(1, config.ec2_burst - 1),
        metrics=operator_metrics,
        account_label=lambda account: account or identities.own_account,
        runner=threads.run,
    )
    return hub


def _build_exporter(
    config: settings.Settings,
    identities: credentials.Identities,
    operator_metrics: metrics.OperatorMetrics,
) -> exporter.Exporter:
    """Export mode's creates, within the create budget of each (account, region)."""

    def create_client_for(account: str, region: str) -> create.CreateClient:
        # Paid from the account's create bucket in the region, apart from the describe budget.
        return identities.create_client(
            account,
            region,
            metrics=operator_metrics,
            on_attempt=exports.attempt_hook(region, account),
            read_timeout=config.ec2_read_timeout,
        )

    exports = exporter.Exporter(
        permission=config.export_permission,
        client_factory=create_client_for,
        rate=config.ec2_create_rate,
        burst=max(1, config.ec2_create_burst - 1),  # one in reserve, as for the describe budget
        runner=threads.run,
        max_concurrent=config.max_concurrent_stores,
        grace=datetime.timedelta(seconds=config.export_grace),
    )
    return exports


def _check_port_free(port: int, flag: str) -> None:
    # kopf binds the liveness port deep inside its start-up; find out first, with one line.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as exc:
            raise StartupError(f"{flag} {port}: cannot listen ({exc.strerror or exc})") from None
