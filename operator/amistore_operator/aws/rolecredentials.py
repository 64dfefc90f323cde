"""An assumed role's credentials in botocore: refreshed in place, and installed on a session.

``AssumedRole`` is botocore's ``DeferredRefreshableCredentials`` that also assumes the role
again, before the next signed call, when the account map names another role (or none);
``use_credentials`` makes a session sign with them; botocore's log of a failed refresh loses
its traceback, as the cause is reported already. What the role is and how it is assumed
(``credentials.Identities``) is the caller's.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import boto3.session
import botocore.credentials

from amistore_operator.core import accounts

_REFRESH_FAILED = "Refreshing temporary credentials failed"

# The role an account's credentials are of: its ARN and the external ID sent with it.
Role = tuple[str, str | None]


def role(entry: accounts.AccountEntry) -> Role:
    """The role the account map's ``entry`` gives its account."""
    return (entry.role_arn, entry.external_id)


class AssumedRole(botocore.credentials.DeferredRefreshableCredentials):
    """An account's role credentials, assumed again at once when the map gives another role."""

    def __init__(
        self,
        *,
        assume: Callable[[], tuple[Role, dict[str, Any]]],
        wanted: Callable[[], Role | None],
    ) -> None:
        super().__init__(refresh_using=self._assume_now, method="assume-role")
        self._assume = assume
        self._wanted = wanted
        self._held: Role | None = None  # the role of the credentials held, once assumed

    def refresh_needed(self, refresh_in: int | None = None) -> bool:
        # botocore asks before every signed call; an unmapped account's refresh fails it.
        return self._held != self._wanted() or super().refresh_needed(refresh_in)

    def _assume_now(self) -> dict[str, Any]:
        # Called by botocore under its refresh lock, which then checks refresh_needed again.
        held, credentials = self._assume()
        if held != self._wanted():  # the map was reloaded during that AssumeRole
            held, credentials = self._assume()
        self._held = held
        return credentials


class _Given(botocore.credentials.CredentialProvider):
    """A credential provider that always answers with the credentials it was given."""

    METHOD = "amistore-assume-role"
    CANONICAL_NAME = "customAmistoreAssumeRole"

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> botocore.credentials.Credentials:
        return self._credentials


def use_credentials(
    session: boto3.session.Session, credentials: botocore.credentials.Credentials
) -> None:
    """Make ``session`` sign with ``credentials`` (its resolver holds only them)."""
    resolver = botocore.credentials.CredentialResolver(providers=[_Given(credentials)])
    session._session.register_component("credential_provider", resolver)


class _NoTraceback(logging.Filter):
    """botocore logs a failed refresh with its traceback; the cause is reported already."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(_REFRESH_FAILED) and record.exc_info:
            cause = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {cause}"
            record.args = None
            record.exc_info = None
        return True


@functools.cache
def quiet_refresh_tracebacks() -> None:
    """Install the filter on botocore's credentials logger, once per process."""
    logging.getLogger("botocore.credentials").addFilter(_NoTraceback())
