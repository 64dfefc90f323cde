"""Status writes through the official client, so a refused write does not stop polling.

kopf applies a timer's ``patch`` after the handler returns; when the API refuses
it (409 Conflict, 422 Invalid, ...), the exception ends that resource's timer for
good and the resource is silently never polled again. Writing here instead lets
the handler see the refusal, log it, and write again on the next tick. The client
is the one ``kopf.login_via_client`` configured (in-cluster, kubeconfig, exec).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import kubernetes

from amistore_operator import __version__, threads

_MERGE_PATCH = "application/merge-patch+json"


class StatusWriteError(Exception):
    """The API refused a status write; the message names the status code and reason."""


@functools.cache
def _api() -> Any:
    # One client (one connection pool) for the operator's life, built after kopf's login;
    # named like kopf's own requests, so audit logs and RBAC checks see one operator.
    client = kubernetes.client.ApiClient()
    client.user_agent = f"kopf/{metadata.version('kopf')} amistore-operator/{__version__}"
    return kubernetes.client.CustomObjectsApi(client)


def _patch(
    group: str, version: str, plural: str, namespace: str, name: str, status: Mapping[str, Any]
) -> None:
    _api().patch_namespaced_custom_object_status(
        group,
        version,
        namespace,
        plural,
        name,
        {"status": dict(status)},
        _content_type=_MERGE_PATCH,
    )


@functools.cache
def _slots() -> asyncio.Semaphore:
    # Changes arrive together right after a refresh (hundreds at scale): as many writes
    # in flight as the client keeps connections, not a thread and a connection each.
    return asyncio.Semaphore(_api().api_client.configuration.connection_pool_maxsize)


async def write_status(
    group: str, version: str, plural: str, namespace: str, name: str, status: Mapping[str, Any]
) -> bool:
    """Merge-patch ``status``; False when the object is gone, StatusWriteError when refused."""
    try:
        async with _slots():
            await threads.run(_patch, group, version, plural, namespace, name, status)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return False  # deleted while we polled: nothing left to write to
        raise StatusWriteError(f"{exc.status} {exc.reason}: {_message(exc)}") from None
    return True


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes | str):
        try:
            return str(json.loads(body).get("message", "")) or str(body)[:200]
        except ValueError:
            return str(body)[:200]
    return ""
