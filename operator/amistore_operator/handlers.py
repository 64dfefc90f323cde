"""The kopf handlers: each a few lines that hand the work to the service.

Handlers are registered on a registry built after the settings are loaded, so
no interval is read at import time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from amistore_operator import service, statuswriter

GROUP = "amistore.io"
VERSION = "v1alpha1"
PLURAL = "amistores"
FINALIZER = "amistore.io/finalizer"

# The timer only re-arms the poll: each run waits inside the poller for the
# region's next refresh (about one poll interval), so this is a short gap
# between two waits, not the poll interval.
TICK_SECONDS = 1.0

logger = logging.getLogger(__name__)


def register(
    registry: kopf.OperatorRegistry, svc: service.AmiStoreService, *, cluster_wide: bool
) -> None:
    """Register every handler of the operator on ``registry``.

    With named namespaces (not ``cluster_wide``) kopf does not watch CRDs and namespaces,
    so the operator needs no cluster-scoped permission at all (the namespaced install); it
    then serves the AmiStore CRD as found at start.
    """

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # The official client's login: in-cluster service account, kubeconfig, or EKS exec
        # credentials; a fresh registry has no default login of its own.
        return kopf.login_via_client(**kwargs)

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

    @kopf.timer(GROUP, VERSION, PLURAL, registry=registry, interval=TICK_SECONDS, id="poll")
    async def poll(body: kopf.Body, meta: kopf.Meta, **kwargs: Any) -> None:
        stopped: kopf.DaemonStopped = kwargs["stopped"]
        ref = service.ResourceRef(
            namespace=meta.namespace or "", name=meta.name or "", uid=meta.uid or ""
        )
        polling = asyncio.ensure_future(
            svc.poll(
                ref,
                raw_spec=body.get("spec"),
                previous=body.get("status"),
                generation=int(meta.get("generation", 1)),
                current_generation=lambda: int(body.metadata.get("generation", 1)),
            )
        )
        # The poll may wait up to an interval for fresh data; deletion or shutdown must not.
        stopping = asyncio.ensure_future(stopped.wait())
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not polling.done():
            polling.cancel()
            return
        outcome = polling.result()
        if outcome.changed:
            try:
                written = await statuswriter.write_status(
                    GROUP, VERSION, PLURAL, ref.namespace, ref.name, outcome.status
                )
            except statuswriter.StatusWriteError as exc:
                # Not written: the next tick computes it again from the stored status,
                # with the same events, so none is posted for a change nobody can see.
                logger.warning("Status of %s not written, retrying next tick: %s", ref.key, exc)
                svc.unwritten(ref)
                return
            if not written:
                return
        for event in outcome.events:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    def watched(type: str, body: kopf.Body, meta: kopf.Meta, **_: Any) -> None:
        ref = service.ResourceRef(namespace=meta.namespace or "", name=meta.name or "")
        if type == "DELETED" or meta.get("deletionTimestamp"):
            svc.forget(ref)
        else:
            svc.observe(ref, int(meta.get("generation", 1)))

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        await svc.close()
