"""Whose credentials sign a call: the operator's own identity, or a role assumed per account.

One boto3 session per account, shared by every region of it. A mapped account's session
holds botocore's own refreshable credentials (``DeferredRefreshableCredentials`` over
``AssumeRoleCredentialFetcher``): the first call assumes the role through the regional STS
endpoint, botocore refreshes the session before it expires (15 minutes ahead), and a refused
AssumeRole fails that call with ``AssumeRoleFailed`` and AWS's message, to be tried again by
the next call. The role and external ID are read from the current account map at each
refresh, and before each signed call the credentials compare the role they hold with the
map's: a reload that changes an account's role or external ID makes its next call assume the
new one (removing the account makes it fail, unsigned), through every client on the session
wherever it is cached, while other accounts keep their sessions. Those credentials
themselves, and how a session is made to sign with them, are ``rolecredentials``'.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import boto3.session
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.session

from amistore_operator import __version__
from amistore_operator.aws import create, ec2, errors, images, objects, rolecredentials
from amistore_operator.core import accounts, model

logger = logging.getLogger(__name__)
_Made = TypeVar("_Made")

# Who is calling, in CloudTrail of the target account (sts:RoleSessionName).
ROLE_SESSION_NAME = "amistore-operator"

ClientCreator = Callable[..., Any]
Role = rolecredentials.Role  # an account's role: its ARN and the external ID sent with it


def sts_config() -> botocore.config.Config:
    """STS calls: few and small, so short timeouts; botocore's standard retries."""
    return botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=5,
        read_timeout=10,
        user_agent_extra=f"amistore-operator/{__version__}",
    )


class Identities:
    """The sessions of the operator's own identity ("") and of each mapped account."""

    def __init__(
        self,
        *,
        account_map: Callable[[], accounts.AccountMap],
        sts_region: str,
        new_session: Callable[[], boto3.session.Session] = ec2.new_session,
    ) -> None:
        self._account_map = account_map
        self._sts_region = sts_region
        self._new_session = new_session
        self._lock = threading.Lock()  # boto3 sessions are not thread-safe: clients made one by one
        self._sessions: dict[str, boto3.session.Session] = {}
        # Per account: the role its fetcher assumes; the fetcher caches that role's credentials.
        self._fetchers: dict[str, tuple[Role, botocore.credentials.CachedCredentialFetcher]] = {}
        self.own_account = ""  # from GetCallerIdentity (resolve_own_account); "" until known
        rolecredentials.quiet_refresh_tracebacks()

    def session(self, account: str) -> boto3.session.Session:
        """The session of ``account`` ("": the operator's own identity), made on first use."""
        with self._lock:
            found = self._sessions.get(account)
            if found is None:
                found = self._new_session()
                if account:
                    rolecredentials.use_credentials(found, self._assumed(account))
                self._sessions[account] = found
            return found

    def ec2_client(
        self,
        account: str,
        region: str,
        *,
        on_attempt: Callable[[], None] | None = None,
        metrics: ec2.Ec2CallObserver | None = None,
        read_timeout: float = 20.0,
    ) -> ec2.StoreTaskClient:
        """An EC2 client of ``account`` in ``region``, on the account's shared session."""
        return self._on_session(ec2.make_client, account, region, on_attempt, metrics, read_timeout)

    def create_client(
        self,
        account: str,
        region: str,
        *,
        on_attempt: Callable[[], None] | None = None,
        metrics: ec2.Ec2CallObserver | None = None,
        read_timeout: float = 20.0,
    ) -> create.CreateClient:
        """A CreateStoreImageTask client of ``account`` in ``region`` (export mode)."""
        return self._on_session(
            create.make_client, account, region, on_attempt, metrics, read_timeout
        )

    def object_client(
        self,
        account: str,
        region: str,
        *,
        metrics: objects.S3CallObserver | None = None,
        read_timeout: float = 20.0,
    ) -> objects.ObjectClient:
        """A HeadObject client of ``account`` in ``region`` (verifyObjects)."""
        return self.made(
            account,
            lambda session, label: objects.make_client(
                region, session=session, metrics=metrics, read_timeout=read_timeout, account=label
            ),
        )

    def made(
        self, account: str, make: Callable[[boto3.session.Session, ec2.AccountLabel], _Made]
    ) -> _Made:
        """``make(session, account label)``: a client on ``account``'s shared session."""
        session = self.session(account)
        with self._lock:
            return make(session, account or self._own_account_label)

    def image_client(
        self,
        account: str,
        region: str,
        *,
        metrics: ec2.Ec2CallObserver | None = None,
        on_read_attempt: Callable[[], None] | None = None,
        on_write_attempt: Callable[[], None] | None = None,
        read_timeout: float = 20.0,
    ) -> images.ImageClient:
        """The cleanup calls' client of ``account`` in ``region`` (afterExport)."""
        return self.made(
            account,
            lambda session, label: images.make_client(
                region,
                session=session,
                on_read_attempt=on_read_attempt,
                on_write_attempt=on_write_attempt,
                metrics=metrics,
                read_timeout=read_timeout,
                account=label,
            ),
        )

    def _on_session(
        self,
        make: Callable[..., _Made],
        account: str,
        region: str,
        on_attempt: Callable[[], None] | None,
        metrics: ec2.Ec2CallObserver | None,
        read_timeout: float,
    ) -> _Made:
        """A client built by ``make`` on the account's shared session (its label read later)."""
        return self.made(
            account,
            lambda session, label: make(
                region,
                session=session,
                on_attempt=on_attempt,
                metrics=metrics,
                read_timeout=read_timeout,
                account=label,
            ),
        )

    def _own_account_label(self) -> str:
        return self.own_account

    def resolve_own_account(self, *, retry_in: float | None = None) -> str:
        """``sts:GetCallerIdentity`` (needs no permission); logs and returns "" on failure.

        ``retry_in``: the seconds until the caller tries again, for the log.
        """
        try:
            sts = self._sts_client(self.session(""))
            self.own_account = str(sts.get_caller_identity()["Account"])
        except Exception as exc:
            then = "" if retry_in is None else f"; trying again in {retry_in:g}s"
            logger.warning(
                "Cannot tell the operator's own AWS account yet (resources without "
                "spec.account keep the status.account they have, or none)%s: %s",
                then,
                errors.to_aws_error(exc).message,
            )
            return ""
        logger.info("The operator's own AWS account is %s", self.own_account)
        return self.own_account

    def resolve_own_account_until_known(
        self,
        *,
        first_wait: float = 1.0,
        max_wait: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """``resolve_own_account`` until it succeeds, waiting longer after each failure.

        Run in a thread of its own at start: STS may be slow or unreachable for a while,
        and an account never learnt would leave ``status.account`` blank for good.
        """
        wait = first_wait
        while not self.resolve_own_account(retry_in=wait):
            sleep(wait)
            wait = min(2 * wait, max_wait)
        return self.own_account

    def _sts_client(self, session: boto3.session.Session) -> Any:
        with self._lock:
            return session.client("sts", region_name=self._sts_region, config=sts_config())

    def _assumed(self, account: str) -> botocore.credentials.RefreshableCredentials:
        return rolecredentials.AssumedRole(
            assume=functools.partial(self._fetch, account),
            wanted=functools.partial(self._role_of, account),
        )

    def _role_of(self, account: str) -> Role | None:
        """The role the current map gives ``account``, or None if it is not mapped."""
        entry = self._account_map().entry(account)
        return None if entry is None else rolecredentials.role(entry)

    def _fetch(self, account: str) -> tuple[Role, dict[str, Any]]:
        """One AssumeRole for ``account`` with its current role (botocore calls this)."""
        entry = self._account_map().entry(account)
        if entry is None:
            with self._lock:  # the credentials its old role left cached
                self._fetchers.pop(account, None)
            raise errors.AwsError(
                model.PollErrorReason.ACCOUNT_NOT_ALLOWED,
                "AccountNotMapped",
                f"account {account} is not in the operator's account map",
            )
        fetcher = self._fetcher(entry)
        try:
            credentials: dict[str, Any] = fetcher.fetch_credentials()
        except Exception as exc:
            failure = errors.to_aws_error(exc)
            raise errors.AwsError(
                model.PollErrorReason.ASSUME_ROLE_FAILED,
                failure.code,
                f"AssumeRole {entry.role_arn} failed: {failure.message}",
            ) from None
        return rolecredentials.role(entry), credentials

    def _fetcher(
        self, entry: accounts.AccountEntry
    ) -> botocore.credentials.CachedCredentialFetcher:
        """The account's fetcher for its current role; a new role's replaces the old one's."""
        role = rolecredentials.role(entry)
        with self._lock:
            held = self._fetchers.get(entry.account_id)
        if held is not None and held[0] == role:
            return held[1]
        base = self.session("")
        extra: dict[str, Any] = {"RoleSessionName": ROLE_SESSION_NAME}
        if entry.external_id:
            extra["ExternalId"] = entry.external_id
        source = base.get_credentials()
        if source is None:
            raise botocore.exceptions.NoCredentialsError()
        fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
            client_creator=self._sts_creator(base),
            source_credentials=source,
            role_arn=entry.role_arn,
            extra_args=extra,
        )
        with self._lock:
            held = self._fetchers.get(entry.account_id)
            if held is None or held[0] != role:  # else another thread made it first
                held = self._fetchers[entry.account_id] = (role, fetcher)
            return held[1]

    def _sts_creator(self, base: boto3.session.Session) -> ClientCreator:
        """Clients of the regional STS endpoint (botocore's own creator, region and config)."""
        core: botocore.session.Session = base._session  # boto3 exposes no getter
        lock = self._lock

        def create(service: str, **kwargs: Any) -> Any:
            with lock:
                return core.create_client(
                    service, region_name=self._sts_region, config=sts_config(), **kwargs
                )

        return create
