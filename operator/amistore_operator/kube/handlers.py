"""The kopf handlers: each a few lines that hand the work to the service.

Handlers are registered on a registry built after the settings are loaded, so
no interval is read at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import kopf

from amistore_operator.core import statusevents
from amistore_operator.kube import daemon, kubelogin, statuswriter
from amistore_operator.reconcile import resource, restorer, service

GROUP = "amistore.io"
VERSION = "v1alpha1"
PLURAL = "amistores"
RESTORE_PLURAL = "amirestores"
FINALIZER = "amistore.io/finalizer"
RETRY_ANNOTATION = "amistore.io/retry-requested-at"  # export mode: retry failed tasks once

# One daemon per AmiStore loops: wait for the refresh that serves it, reconcile,
# write. Deleting the resource or stopping the operator cancels its wait at once
# (a wait has nothing to clean up); an unexpected error restarts the loop.
STOP_SECONDS = 5.0
RETRY_SECONDS = 10.0

logger = logging.getLogger(__name__)


def register(
    registry: kopf.OperatorRegistry,
    svc: service.AmiStoreService,
    *,
    cluster_wide: bool,
    restores: restorer.RestoreService | None = None,
) -> None:
    """Register every handler of the operator on ``registry``.

    With named namespaces (not ``cluster_wide``) kopf does not watch CRDs and namespaces,
    so the operator needs no cluster-scoped permission at all (the namespaced install); it
    then serves the AmiStore CRD as found at start.
    """

    # kopf's settings, for the status writes (set at start-up, before any handler runs).
    operator_settings: list[kopf.OperatorSettings] = []

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A fresh registry has no default login of its own.
        return kubelogin.login(**kwargs)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Our own Events only: no log line becomes an Event.
        settings.posting.loggers = False
        settings.posting.level = logging.INFO
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 30
        settings.scanning.disabled = not cluster_wide
        operator_settings.append(settings)

    for plural, svc_of_kind in ((PLURAL, svc), (RESTORE_PLURAL, restores)):
        if svc_of_kind is not None:
            _register_kind(registry, plural, svc_of_kind, operator_settings)

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        await svc.close()
        if restores is not None:
            await restores.close()


class _Service(daemon.Polled, Protocol):
    """What the handlers of one kind hand the work to."""

    def observe(self, ref: resource.ResourceRef, generation: int, snap: resource.Snapshot) -> None:
        """A watch event delivered the resource."""


def _register_kind(
    registry: kopf.OperatorRegistry,
    plural: str,
    svc: _Service,
    operator_settings: list[kopf.OperatorSettings],
) -> None:
    """One kind's daemon (its poll loop) and watch handler."""

    @kopf.daemon(
        GROUP,
        VERSION,
        plural,
        registry=registry,
        id="poll",
        cancellation_timeout=STOP_SECONDS,
        backoff=RETRY_SECONDS,
    )
    async def poll(
        body: kopf.Body,
        meta: kopf.Meta,
        stopped: kopf.DaemonStopped,
        **_: Any,
    ) -> None:
        ref = resource.ResourceRef(
            namespace=meta.namespace or "", name=meta.name or "", uid=meta.uid or ""
        )
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{ref.namespace}/{plural}/{ref.name}"

        def read() -> resource.Snapshot:
            # kopf keeps a daemon's body live: each read sees the latest watch event.
            return snapshot(body)

        async def write(current: Mapping[str, Any]) -> bool:
            try:
                return await statuswriter.write_status(operator_settings[-1], path, current)
            except statuswriter.StatusWriteError as exc:
                raise daemon.WriteRefusedError(str(exc), ambiguous=exc.ambiguous) from None

        def post(event: statusevents.Event) -> None:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)

        # Each poll waits in the poller for the refresh that serves this resource;
        # deletion and shutdown cancel that wait (cancellation_timeout).
        await daemon.run(svc, ref, read, write, post, lambda: bool(stopped))

    # Async, as every handler that touches the service: kopf runs a plain ``def`` in a
    # thread pool, where it would change the poller's dicts and resolve its futures while
    # the event loop uses them.
    @kopf.on.event(GROUP, VERSION, plural, registry=registry)
    async def watched(type: str, body: kopf.Body, meta: kopf.Meta, **_: Any) -> None:
        ref = resource.ResourceRef(namespace=meta.namespace or "", name=meta.name or "")
        if type == "DELETED" or meta.get("deletionTimestamp"):
            svc.forget(ref)
        else:
            # With the retry annotation: the service notes when a new value was first seen.
            snap = snapshot(body)
            svc.observe(ref, snap.generation, snap)


def snapshot(body: kopf.Body) -> resource.Snapshot:
    """What the service reads of a watched body: spec, status, generation, retry value."""
    generation = int(body.metadata.get("generation", 1))
    retry = body.metadata.annotations.get(RETRY_ANNOTATION)
    return resource.Snapshot(
        body.get("spec"),
        body.get("status"),
        generation,
        retry_requested=retry if isinstance(retry, str) and retry else None,
    )
