"""The account gate: which account a stored status's ``account`` stands for."""

from __future__ import annotations

from amistore_operator.core import accounts
from amistore_operator.reconcile import accountgate

MAPPED = "111111111111"
OWN = "000000000000"
MAP = accounts.parse(
    {"accounts": {MAPPED: {"roleArn": f"arn:aws:iam::{MAPPED}:role/amistore", "namespaces": ["*"]}}}
)


def gate(own: str) -> accountgate.AccountGate:
    return accountgate.AccountGate(account_map=lambda: MAP, own_account=lambda: own, watch=None)


def test_a_status_names_the_own_identity_by_its_id_a_spec_by_no_account() -> None:
    assert gate(OWN).spec_account(OWN) == ""
    assert gate(OWN).spec_account(MAPPED) == MAPPED


def test_before_sts_answers_an_account_the_map_does_not_list_is_the_own_one() -> None:
    assert gate("").spec_account(OWN) == ""
    assert gate("").spec_account(MAPPED) == MAPPED
