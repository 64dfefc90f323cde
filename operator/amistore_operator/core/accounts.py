"""The cluster admin's account map and the decision "may namespace N use account A?".

The map (``--accounts FILE``, YAML) names, for each AWS account an AmiStore may
ask for in ``spec.account``, the IAM role the operator assumes there, an
optional external ID, and the namespaces allowed to use it (``["*"]``: every
namespace). ``defaultNamespaces`` names the namespaces that may use the
operator's own identity (absent: every namespace, as without a map). This
module parses what the YAML loader returned and decides; loading and reloading
the file is ``accountfile``'s, assuming the roles ``aws.credentials``'.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

EVERY = "*"
ACCOUNT_PATTERN = re.compile(r"^[0-9]{12}$")
# arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME (IAM's characters for paths and names).
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# STS: ExternalId is 2 to 1224 characters of [\w+=,.@:/-].
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_TOP_KEYS = ("accounts", "defaultNamespaces")
_ACCOUNT_KEYS = ("roleArn", "externalId", "namespaces")


class AccountMapError(ValueError):
    """A malformed account map; the message is one line naming the field."""


@dataclasses.dataclass(frozen=True)
class AccountEntry:
    """One account of the map: the role to assume there and who may use it."""

    account_id: str
    role_arn: str
    external_id: str | None
    namespaces: tuple[str, ...]  # ("*",): every namespace


@dataclasses.dataclass(frozen=True)
class AccountMap:
    """The whole map; ``NO_MAP`` when the operator runs without one."""

    accounts: Mapping[str, AccountEntry]
    default_namespaces: tuple[str, ...] = (EVERY,)

    def entry(self, account_id: str) -> AccountEntry | None:
        """The map's entry for ``account_id``, or None."""
        return self.accounts.get(account_id)

    def denial(self, namespace: str, account_id: str) -> str | None:
        """Why ``namespace`` may not use ``account_id`` ("": the operator's own), or None."""
        if not account_id:
            if _allows(self.default_namespaces, namespace):
                return None
            return (
                f'namespace "{namespace}" may not use the operator\'s own AWS identity (not in '
                "defaultNamespaces of the operator's account map); set spec.account"
            )
        entry = self.accounts.get(account_id)
        if entry is None:
            return f"account {account_id} is not in the operator's account map"
        if not _allows(entry.namespaces, namespace):
            return (
                f'namespace "{namespace}" may not use account {account_id} (not among its '
                "namespaces in the operator's account map)"
            )
        return None


NO_MAP = AccountMap(accounts={})


def parse(data: Any) -> AccountMap:
    """Validate the loaded YAML of an account map (raises ``AccountMapError``)."""
    if not isinstance(data, Mapping):
        raise AccountMapError(
            f"the account map must be a mapping with an accounts key, got {_kind(data)}"
        )
    _only(data, _TOP_KEYS, "")
    raw_accounts = data.get("accounts")
    if raw_accounts is None:
        raise AccountMapError("accounts: required (a mapping of account ID to role)")
    if not isinstance(raw_accounts, Mapping):
        raise AccountMapError(
            f"accounts: must be a mapping of account ID to role, got {_kind(raw_accounts)}"
        )
    entries = {}
    for key, value in raw_accounts.items():
        account_id = str(key)
        # An unquoted ID is a YAML integer: leading zeros are lost, so insist on a string.
        if not isinstance(key, str) or not ACCOUNT_PATTERN.fullmatch(account_id):
            raise AccountMapError(
                f'accounts: "{account_id}" is not an account ID (12 digits; quote it in YAML)'
            )
        entries[account_id] = _entry(account_id, value)
    default = data.get("defaultNamespaces")
    defaults = (EVERY,) if default is None else _namespaces("defaultNamespaces", default)
    return AccountMap(accounts=entries, default_namespaces=defaults)


def _entry(account_id: str, value: Any) -> AccountEntry:
    field = f"accounts.{account_id}"
    if not isinstance(value, Mapping):
        raise AccountMapError(f"{field}: must be a mapping with roleArn and namespaces")
    _only(value, _ACCOUNT_KEYS, f"{field}: ")
    role = value.get("roleArn")
    if role is None:
        raise AccountMapError(f"{field}.roleArn: required")
    match = _ROLE_ARN.fullmatch(role) if isinstance(role, str) else None
    if match is None:
        raise AccountMapError(
            f'{field}.roleArn: "{role}" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)'
        )
    if match.group(2) != account_id:
        raise AccountMapError(
            f"{field}.roleArn: the role is in account {match.group(2)}, not {account_id}"
        )
    external_id = value.get("externalId")
    if external_id is not None and not (
        isinstance(external_id, str) and _EXTERNAL_ID.fullmatch(external_id)
    ):
        raise AccountMapError(f"{field}.externalId: must be a string of 2 to 1224 characters")
    if value.get("namespaces") is None:
        raise AccountMapError(f'{field}.namespaces: required (a list of namespaces, or ["*"])')
    namespaces = _namespaces(f"{field}.namespaces", value["namespaces"])
    return AccountEntry(account_id, role, external_id, namespaces)


def _namespaces(field: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise AccountMapError(f"{field}: must be a list, got {_kind(value)}")
    names = list(value)
    if EVERY in names:
        if len(names) > 1:
            raise AccountMapError(f'{field}: "*" stands alone (every namespace)')
        return (EVERY,)
    for index, name in enumerate(names):
        if not isinstance(name, str) or not _NAMESPACE.fullmatch(name):
            raise AccountMapError(f'{field}[{index}]: "{name}" is not a namespace name')
    return tuple(dict.fromkeys(names))


def _allows(namespaces: tuple[str, ...], namespace: str) -> bool:
    return namespaces == (EVERY,) or namespace in namespaces


def _only(data: Mapping[Any, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise AccountMapError(f'{prefix}unknown key "{key}" ({", ".join(allowed)})')


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence):
        return "a list"
    return "null" if value is None else type(value).__name__
