"""Another account's entries lend nothing: when a status was polled in another account."""

from __future__ import annotations

import pytest
from amistore_operator.core import accountentries

A = "111111111111"
B = "222222222222"


@pytest.mark.parametrize(
    ("previous", "account", "other"),
    [
        ({"account": A}, B, True),
        ({"account": A}, A, False),
        ({"account": A}, "", False),  # not known now (the own identity before STS answers)
        ({"account": A}, None, False),
        ({}, B, False),  # none recorded: a status from before accounts, or never polled
        ({"account": None}, B, False),
        (None, B, False),
    ],
)
def test_only_a_recorded_account_other_than_the_one_polled_is_another(
    previous: dict[str, str | None] | None, account: str | None, other: bool
) -> None:
    assert accountentries.other_account(previous, account) is other
