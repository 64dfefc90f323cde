"""Whose entries a status holds: another account's lend nothing to this one.

A status records the account it was polled in (``status.account``). After a
change of account its entries, tasks and requests are another account's: none
of them is one of the account polled now, so a poll starts from none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def other_account(previous: Mapping[str, Any] | None, account: str | None) -> bool:
    """Whether ``previous`` was polled in another account than ``account``.

    Unknown on either side (no ``account`` recorded, or none known now): not another.
    """
    before = (previous or {}).get("account")
    return bool(account and before and before != account)
