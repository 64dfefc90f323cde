"""Status writes through kopf's own API client, so a refused write does not stop polling.

kopf applies a handler's ``patch`` only after the handler returns, and when the API
refuses it (409 Conflict, 422 Invalid, ...) the exception ends that resource's
handler for good: the resource is silently never polled again. Writing here instead
lets the handler see the refusal, log it, and write again on its next poll.

The request goes through kopf's API client (``kopf._cogs.clients.api``): the same
credentials, session and re-login on 401 as kopf's own requests, and no second
client library in memory. That module is not part of kopf's documented interface;
kopf is pinned in ``requirements/constraints.txt`` and the end-to-end tests write
every status through it.
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf
from kopf._cogs.clients import api, errors

logger = logging.getLogger(__name__)

_MERGE_PATCH = "application/merge-patch+json"
_STATUSES = {s.value for s in http.HTTPStatus}
# A refresh at scale changes hundreds of resources at once: this many writes in flight.
MAX_IN_FLIGHT = 16
# A 5xx or a dropped connection is retried this soon; after that the next poll writes.
RETRY_BACKOFFS = (0.5, 1.0)


class StatusWriteError(Exception):
    """The API refused a status write; the message names the status code and reason.

    ``ambiguous``: no answer came (a timeout, a dropped connection), so the write may
    have been stored all the same.
    """

    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


@functools.cache
def _slots() -> asyncio.Semaphore:
    return asyncio.Semaphore(MAX_IN_FLIGHT)


async def write_status(
    settings: kopf.OperatorSettings,
    path: str,
    status: Mapping[str, Any],
) -> bool:
    """Merge-patch ``status`` at ``path`` (the object's URL path, without ``/status``).

    Returns False when the object is gone (404); raises StatusWriteError when refused.
    """
    try:
        async with _slots():
            response = await api.request(
                "patch",
                f"{path}/status",
                settings=settings,
                payload={"status": dict(status)},
                headers={"Content-Type": _MERGE_PATCH},
                backoffs=RETRY_BACKOFFS,
                logger=logger,
            )
            response.release()
    except errors.APINotFoundError:
        return False  # deleted while we polled: nothing left to write to
    except errors.APIError as exc:
        phrase = http.HTTPStatus(exc.status).phrase if exc.status in _STATUSES else ""
        raise StatusWriteError(f"{exc.status} {phrase}: {exc.message or exc}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise StatusWriteError(f"no answer from the API server: {exc!r}", ambiguous=True) from None
    return True
