"""The status's fields about the resource as a whole, beside its tasks, counts and conditions.

``observedGeneration``, ``region``, ``account`` and ``lastPollTime`` say what was
polled; ``estimatedCompletionTime``, ``lastHandledRetryAt`` and ``exportRecords``
are kept from the previous status unless this poll gives them. A field set to null
is one a merge patch deletes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from amistore_operator.core import eta, exportrecords, model

# The amistore.io/retry-requested-at value export mode handled (Flux's lastHandledReconcileAt).
RETRY_HANDLED = "lastHandledRetryAt"


def set_poll(
    prev: Mapping[str, Any],
    status: dict[str, Any],
    spec: model.AmiStoreSpec,
    view: model.ResourceView,
    generation: int,
    stamp: str,
) -> None:
    """What was polled: ``observedGeneration``, ``region``, ``account``, ``lastPollTime``."""
    status["observedGeneration"] = generation
    status["region"] = spec.region  # the region actually polled, defaults resolved
    account = view.account or _account_still_named(prev, generation)
    if account:
        status["account"] = account  # the account polled (the operator's own if unnamed)
    elif prev.get("account"):
        status["account"] = None  # a merge patch deletes a key set to null
    last_poll = stamp if view.error is None else prev.get("lastPollTime")
    if last_poll is not None:
        status["lastPollTime"] = last_poll


def _account_still_named(prev: Mapping[str, Any], generation: int) -> str | None:
    """The previous status's account, when the view's is unknown and the spec is the same.

    An unknown account (``view.account`` empty) is the operator's own identity before STS
    named it (just after a restart, or while STS fails): the status written for this same
    generation of the spec already names it, and that stays true. Deleting it would be a
    write, then another to put it back: known state lost for a while.
    """
    account = prev.get("account")
    same_spec = prev.get("observedGeneration") == generation
    return account if same_spec and isinstance(account, str) and account else None


def set_estimate(
    prev: Mapping[str, Any], status: dict[str, Any], entries: Sequence[Mapping[str, Any]]
) -> None:
    """``estimatedCompletionTime``: absent when nothing is estimated, null to delete it."""
    estimate = eta.resource_estimate(entries)
    if estimate is not None:
        status["estimatedCompletionTime"] = estimate
    elif prev.get("estimatedCompletionTime"):
        status["estimatedCompletionTime"] = None  # a merge patch deletes a key set to null


def set_retry_handled(prev: Mapping[str, Any], status: dict[str, Any], handled: str | None) -> None:
    """``lastHandledRetryAt``: the value export mode handled, else the one recorded before."""
    handled = handled or prev.get(RETRY_HANDLED)
    if handled:
        status[RETRY_HANDLED] = handled


def set_records(
    prev: Mapping[str, Any], status: dict[str, Any], records: Sequence[Mapping[str, Any]] | None
) -> None:
    """``exportRecords``: the new ones, else the previous ones; null to delete them."""
    if records is None:
        if prev.get(exportrecords.FIELD):
            status[exportrecords.FIELD] = prev[exportrecords.FIELD]
    elif records:
        status[exportrecords.FIELD] = [dict(r) for r in records]
    elif prev.get(exportrecords.FIELD):
        status[exportrecords.FIELD] = None  # a merge patch deletes a key set to null
