"""S3 HeadObject and RestoreObject on the simulator's URL, path-style, as boto3 addresses
a custom endpoint.

boto3 given ``endpoint_url`` or ``AWS_ENDPOINT_URL_S3`` sends ``HEAD /{bucket}/{key}``
(path-style: it does for a custom endpoint, an IP address or ``localhost``) signed
for the service ``s3``. The signing key says whose objects are read (each
account has its own, see ``objects``); faults, holds and throttling apply under
the action names ``HeadObject`` and ``RestoreObject`` (``POST ...?restore``, see
``s3restore``). A HEAD answer has no body, so botocore reports an error by its
HTTP status (``404``, ``403``); other answers carry S3's error document. The call
log keeps S3's code. Any other S3 request (GetObject, ListBuckets...) is answered
501 NotImplemented.
"""

from __future__ import annotations

import asyncio
import email.utils
import secrets
import uuid
from xml.sax.saxutils import escape

from aiohttp import web

from tests.sandbox.ec2sim import objects, s3restore, signing, state, sts

ACTION = "HeadObject"
RESTORE = "RestoreObject"
# The S3 code and HTTP status of each injected fault kind.
FAULTS: dict[str, tuple[str, int]] = {
    "InternalError": ("InternalError", 500),
    "Unavailable": ("ServiceUnavailable", 503),
    "RequestLimitExceeded": ("SlowDown", 503),
    "UnauthorizedOperation": ("AccessDenied", 403),
    "AuthFailure": ("InvalidAccessKeyId", 403),
    "RequestExpired": ("AccessDenied", 403),
}


MESSAGES = {
    "AccessDenied": "Access Denied",
    "NoSuchKey": "The specified key does not exist.",
    "InternalError": "We encountered an internal error. Please try again.",
    "SlowDown": "Please reduce your request rate.",
}


class S3Error(Exception):
    """An S3 error: its code, HTTP status and message."""

    def __init__(self, code: str, status: int, message: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.message = message or MESSAGES.get(code, code)


def http_date(when: float) -> str:
    """An HTTP date (RFC 7231), as S3 writes Last-Modified and the dates in its headers."""
    return email.utils.formatdate(when, usegmt=True)


def object_headers(obj: objects.S3Object) -> dict[str, str]:
    """HeadObject's headers for an object (no x-amz-storage-class for STANDARD, as S3; the
    stored AMI's name as user metadata ``ami-name``)."""
    headers = {
        "Content-Length": str(obj.size),
        "Content-Type": "application/octet-stream",
        "ETag": obj.etag,
        "Last-Modified": http_date(obj.last_modified),
        "Accept-Ranges": "bytes",
        "x-amz-server-side-encryption": "AES256",  # S3's default encryption since 2023
    }
    if obj.storage_class != "STANDARD":
        headers["x-amz-storage-class"] = obj.storage_class
    if obj.expiration is not None:
        expiry, rule = obj.expiration
        headers["x-amz-expiration"] = f'expiry-date="{http_date(expiry)}", rule-id="{rule}"'
    if obj.restore is not None:
        ongoing, until = obj.restore
        value = f'ongoing-request="{str(ongoing).lower()}"'
        if until is not None:
            value += f', expiry-date="{http_date(until)}"'
        headers["x-amz-restore"] = value
    if obj.archive_status is not None:
        headers["x-amz-archive-status"] = obj.archive_status
    if obj.ami_name is not None:  # the stored AMI's name; the header's name is ours
        headers["x-amz-meta-ami-name"] = obj.ami_name
    return headers


def _ids() -> dict[str, str]:
    return {
        "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
        "x-amz-id-2": secrets.token_urlsafe(48),
        "Server": "AmazonS3",
    }


def not_implemented(request: web.Request) -> web.Response:
    """S3's answer to a request the simulator does not serve."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
        "<Message>A header you provided implies functionality that is not implemented"
        f"</Message><Resource>{escape(request.path)}</Resource></Error>"
    )
    text = None if request.method == "HEAD" else body
    return web.Response(status=501, text=text, content_type="application/xml", headers=_ids())


def _error(request: web.Request, exc: S3Error) -> web.Response:
    """S3's error answer: no body to a HEAD, S3's error document to anything else."""
    ids = _ids()
    if request.method == "HEAD":
        return web.Response(status=exc.status, headers=ids)
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(exc.code)}</Code>'
        f"<Message>{escape(exc.message)}</Message><Resource>{escape(request.path)}</Resource>"
        f"<RequestId>{ids['x-amz-request-id']}</RequestId><HostId>{ids['x-amz-id-2']}</HostId>"
        "</Error>"
    )
    return web.Response(status=exc.status, text=body, content_type="application/xml", headers=ids)


async def _admit(sim: state.SimState, request: web.Request, action: str, bucket: str) -> None:
    """Faults, holds, throttling and access, in that order, for one call of ``action``."""
    delay, fault = sim.faults.take(action)
    if delay:
        await asyncio.sleep(delay)
    await sim.holds.wait(action)
    if fault is not None and fault.kind == "drop":
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise S3Error("ConnectionDropped", 0)
    if fault is not None:
        raise S3Error(*FAULTS.get(fault.kind, ("InternalError", 500)))
    if not sim.throttler.allow(action):
        raise S3Error("SlowDown", 503)
    expected = request.headers.get("x-amz-expected-bucket-owner")
    if bucket in sim.objects.denied or expected not in (None, sim.account):
        raise S3Error("AccessDenied", 403)


def _found(sim: state.SimState, bucket: str, key: str) -> objects.S3Object:
    obj = sim.objects.head(sim.model, sim.images, bucket, key)
    if obj is None:
        raise S3Error("NoSuchKey", 404)
    return obj


async def _restore(
    sim: state.SimState, request: web.Request, bucket: str, key: str, params: dict[str, object]
) -> web.Response:
    """RestoreObject; ``params`` gains Days and Tier for the call log."""
    try:
        days, tier = s3restore.parse(await request.read())
        params.update({"Days": days, "Tier": tier} if days is not None else {"Tier": tier})
        obj = _found(sim, bucket, key)
        status = s3restore.restore(obj, days, tier, sim.model.clock.now(), sim.thaw_settings)
    except s3restore.RefusedError as exc:
        raise S3Error(exc.code, exc.status, exc.message) from None
    return web.Response(status=status, headers=_ids())


def _action(request: web.Request) -> str | None:
    if request.method == "HEAD":
        return ACTION
    if request.method == "POST" and "restore" in request.query:
        return RESTORE
    return None


async def handle_object(request: web.Request) -> web.StreamResponse:
    """Serve ``HEAD /{bucket}/{key}`` and ``POST /{bucket}/{key}?restore``; refuse the rest."""
    action = _action(request)
    if action is None:
        return not_implemented(request)
    root = request.app[state.STATE_KEY]
    calls = root.calls  # a call in flight across a reset belongs to the log it started in
    bucket, key = request.match_info["bucket"], request.match_info["key"]
    params: dict[str, object] = {"Bucket": bucket, "Key": key}
    authorization = request.headers.get("Authorization", "")
    account = ""
    try:
        if not signing.is_signed(authorization):
            raise S3Error("AccessDenied", 403)
        try:
            account = root.sts.identify(signing.scope(authorization)[0]).account
        except sts.StsError as exc:
            raise S3Error(exc.code, 400) from None
        sim = root.for_account(account)
        await _admit(sim, request, action, bucket)
        if action == RESTORE:
            response = await _restore(sim, request, bucket, key, params)
        else:
            headers = object_headers(_found(sim, bucket, key))
            response = web.Response(status=200, headers={**headers, **_ids()})
    except S3Error as exc:
        calls.add(root.model.clock.now(), action, params, exc.status, exc.code, account)
        if exc.status == 0:
            raise web.HTTPServiceUnavailable() from None  # the socket is gone already
        return _error(request, exc)
    calls.add(sim.model.clock.now(), action, params, response.status, None, account)
    return response
