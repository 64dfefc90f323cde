"""STS as the simulator answers it: AssumeRole, GetCallerIdentity and whose key signs a call.

Every access key belongs to an account: a key the simulator did not issue is
the default account's (the operator's own identity, ``DEFAULT_ACCOUNT``); a
key AssumeRole issued belongs to the role's account until it expires, then
every call signed with it is refused with ``ExpiredToken``, as AWS refuses it.
Roles are registered through the control API with the external ID their trust
policy requires, and can be made to refuse AssumeRole. The Query protocol and
XML follow STS's API reference (version 2011-06-15); sessions last
``session_seconds`` (16 minutes unless a test sets it, or DurationSeconds asks).
Expiry runs on the wall clock, as botocore's refresh does, not on the
simulated clock of the store tasks.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from xml.sax.saxutils import escape

ACTIONS = frozenset({"AssumeRole", "GetCallerIdentity"})
XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_SESSION_SECONDS = 960.0  # botocore refreshes 15 minutes ahead: once a minute
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
EXPIRED_MESSAGE = "The security token included in the request is expired"


class StsError(Exception):
    """An STS error: code, message, HTTP status (and the ErrorResponse type)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclasses.dataclass
class Role:
    """A role the simulator lets callers assume."""

    arn: str
    account: str
    external_id: str | None = None  # the trust policy's sts:ExternalId condition
    refuse: str | None = None  # set: AssumeRole is refused with this message


@dataclasses.dataclass(frozen=True)
class Session:
    """Temporary credentials AssumeRole issued."""

    access_key: str
    secret_key: str
    token: str
    account: str
    role_arn: str
    session_name: str
    expires: float  # wall-clock Unix time


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who signed a call."""

    account: str
    arn: str
    user_id: str


class StsState:
    """Roles, the sessions issued, and whose each access key is."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.default_account = DEFAULT_ACCOUNT
        self.session_seconds = DEFAULT_SESSION_SECONDS
        self.roles: dict[str, Role] = {}
        self.sessions: dict[str, Session] = {}

    def identify(self, access_key: str) -> Identity:
        """The identity of a signing key; ``ExpiredToken`` for an expired session key."""
        session = self.sessions.get(access_key)
        if session is None:
            account = self.default_account
            return Identity(account, f"arn:aws:iam::{account}:user/sandbox", access_key)
        if self.clock() >= session.expires:
            raise StsError("ExpiredToken", EXPIRED_MESSAGE)
        name = _ROLE_ARN.fullmatch(session.role_arn)
        role_name = name.group(2) if name else "role"
        return Identity(
            session.account,
            f"arn:aws:sts::{session.account}:assumed-role/{role_name}/{session.session_name}",
            f"AROA{session.account}:{session.session_name}",
        )

    def assume_role(self, caller: Identity, form: Mapping[str, str]) -> Session:
        """AssumeRole: check the role, its trust (external ID) and the parameters."""
        arn = form.get("RoleArn", "")
        name = form.get("RoleSessionName", "")
        if not arn or not name:
            missing = "roleArn" if not arn else "roleSessionName"
            raise StsError(
                "ValidationError",
                f"1 validation error detected: Value null at '{missing}' failed to satisfy "
                "constraint: Member must not be null",
            )
        if not _SESSION_NAME.fullmatch(name):
            raise StsError(
                "ValidationError",
                f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to "
                r"satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*",
            )
        seconds = self.session_seconds
        if "DurationSeconds" in form:
            seconds = float(form["DurationSeconds"])
            if not 900 <= seconds <= 43200:
                raise StsError(
                    "ValidationError",
                    f"1 validation error detected: Value '{form['DurationSeconds']}' at "
                    "'durationSeconds' failed to satisfy constraint: Member must have value "
                    "greater than or equal to 900",
                )
        role = self.roles.get(arn)
        denied = (
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {arn}"
        )
        # A trust policy without an sts:ExternalId condition ignores one that is sent.
        wrong_id = role is not None and role.external_id not in (None, form.get("ExternalId"))
        if role is None or wrong_id:
            raise StsError("AccessDenied", denied, 403)
        if role.refuse is not None:
            raise StsError("AccessDenied", role.refuse or denied, 403)
        session = Session(
            access_key="ASIA" + secrets.token_hex(8).upper(),
            secret_key=secrets.token_urlsafe(30),
            token=secrets.token_urlsafe(60),
            account=role.account,
            role_arn=arn,
            session_name=name,
            expires=self.clock() + seconds,
        )
        self.sessions[session.access_key] = session
        return session

    def put_role(self, arn: str, external_id: str | None, refuse: str | None) -> Role:
        """Register (or change) a role; its account is the one in its ARN."""
        match = _ROLE_ARN.fullmatch(arn)
        if match is None:
            raise ValueError(f"not a role ARN: {arn}")
        role = Role(arn, match.group(1), external_id, refuse)
        self.roles[arn] = role
        return role

    def to_json(self) -> dict[str, object]:
        """The control API's view."""
        now = self.clock()
        return {
            "default_account": self.default_account,
            "session_seconds": self.session_seconds,
            "roles": [dataclasses.asdict(r) for r in self.roles.values()],
            "sessions": [
                {
                    "account": s.account,
                    "role_arn": s.role_arn,
                    "session_name": s.session_name,
                    "expires": s.expires,
                    "expired": now >= s.expires,
                }
                for s in self.sessions.values()
            ],
        }


# --- the Query protocol's answers -----------------------------------------------


def _el(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_assume_role(request_id: str, session: Session, caller: Identity) -> str:
    """An AssumeRoleResponse document."""
    match = _ROLE_ARN.fullmatch(session.role_arn)
    role_name = match.group(2) if match else "role"
    user = (
        f"<AssumedRoleUser>"
        f"{_el('Arn', f'arn:aws:sts::{session.account}:assumed-role/{role_name}/{session.session_name}')}"  # noqa: E501
        f"{_el('AssumedRoleId', f'AROA{session.account}:{session.session_name}')}"
        "</AssumedRoleUser>"
    )
    credentials = (
        "<Credentials>"
        f"{_el('AccessKeyId', session.access_key)}{_el('SecretAccessKey', session.secret_key)}"
        f"{_el('SessionToken', session.token)}{_el('Expiration', _iso(session.expires))}"
        "</Credentials>"
    )
    return (
        f'<AssumeRoleResponse xmlns="{XMLNS}"><AssumeRoleResult>{user}{credentials}'
        "</AssumeRoleResult>"
        f"<ResponseMetadata>{_el('RequestId', request_id)}</ResponseMetadata>"
        "</AssumeRoleResponse>"
    )


def render_caller_identity(request_id: str, identity: Identity) -> str:
    """A GetCallerIdentityResponse document."""
    return (
        f'<GetCallerIdentityResponse xmlns="{XMLNS}"><GetCallerIdentityResult>'
        f"{_el('Arn', identity.arn)}{_el('UserId', identity.user_id)}"
        f"{_el('Account', identity.account)}</GetCallerIdentityResult>"
        f"<ResponseMetadata>{_el('RequestId', request_id)}</ResponseMetadata>"
        "</GetCallerIdentityResponse>"
    )


def render_error(request_id: str, error: StsError) -> str:
    """STS's ErrorResponse document."""
    kind = "Receiver" if error.status >= 500 else "Sender"
    return (
        f'<ErrorResponse xmlns="{XMLNS}"><Error>{_el("Type", kind)}{_el("Code", error.code)}'
        f"{_el('Message', error.message)}</Error>{_el('RequestId', request_id)}</ErrorResponse>"
    )


def answer(state: StsState, caller: Identity, form: Mapping[str, str], request_id: str) -> str:
    """Serve one STS call (raises ``StsError``)."""
    action = form.get("Action", "")
    if action == "GetCallerIdentity":
        return render_caller_identity(request_id, caller)
    if action == "AssumeRole":
        return render_assume_role(request_id, state.assume_role(caller, form), caller)
    raise StsError("InvalidAction", f"Could not find operation {action} for version 2011-06-15")
