"""status.account: the AWS account the status's data is from."""

from __future__ import annotations

import datetime

from amistore_operator.core import model, status

NOW = datetime.datetime(2026, 11, 27, 4, 0, 0, tzinfo=datetime.UTC)
SPEC = model.AmiStoreSpec(
    image_ids=("ami-0000000a",),
    bucket=None,
    task_states=(),
    region="eu-west-1",
    poll_interval=60,
    account="111111111111",
)


def _reconcile(previous: dict[str, object] | None, view: model.ResourceView) -> status.Outcome:
    return status.reconcile(previous, SPEC, view, generation=1, now=NOW)


def test_the_account_polled_is_in_the_status() -> None:
    outcome = _reconcile(None, model.ResourceView({}, None, account="111111111111"))
    assert outcome.status["account"] == "111111111111"
    again = _reconcile(outcome.status, model.ResourceView({}, None, account="111111111111"))
    assert not again.changed


def test_a_denied_account_is_shown_with_the_reason() -> None:
    denied = model.PollError(model.PollErrorReason.ACCOUNT_NOT_ALLOWED, "account 1 is not ...")
    outcome = _reconcile(None, model.ResourceView({}, denied, account="111111111111"))
    synced = outcome.status["conditions"][0]
    assert (synced["type"], synced["status"], synced["reason"]) == (
        "Synced",
        "False",
        "AccountNotAllowed",
    )
    assert outcome.status["account"] == "111111111111"


def test_an_unknown_account_leaves_it_out_and_removes_one_of_another_spec() -> None:
    first = _reconcile(None, model.ResourceView({}, None))
    assert "account" not in first.status
    # Written for generation 0, an older spec: it may have named another account.
    previous = {**first.status, "account": "222222222222", "observedGeneration": 0}
    outcome = _reconcile(previous, model.ResourceView({}, None))
    assert outcome.changed
    assert outcome.status["account"] is None  # a merge patch deletes it


def test_an_unknown_account_keeps_the_one_the_same_spec_was_polled_as() -> None:
    """Just after a restart STS may not have named the operator's own account yet."""
    known = _reconcile(None, model.ResourceView({}, None, account="111111111111"))
    outcome = _reconcile(known.status, model.ResourceView({}, None))
    assert not outcome.changed
    assert outcome.status["account"] == "111111111111"
    assert outcome.events == ()
    # And when it is known again, nothing changes either.
    again = _reconcile(outcome.status, model.ResourceView({}, None, account="111111111111"))
    assert not again.changed
