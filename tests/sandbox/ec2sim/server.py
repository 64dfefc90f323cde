"""The aiohttp application: EC2 and STS Query endpoints at `/`, S3 HeadObject and
RestoreObject at `/{bucket}/{key}`, the control API under `/_sim/`.

A call goes to STS when its SigV4 scope names the service ``sts`` or its
Action is an STS one (AWS_ENDPOINT_URL_STS points at the same URL), to S3 when
its path names an object (AWS_ENDPOINT_URL_S3, path-style) or its scope names
``s3``; its signing key says which account's tasks and throttle buckets serve it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from aiohttp import web

from tests.sandbox.ec2sim import (
    actions,
    control_api,
    control_images_api,
    control_objects_api,
    control_references_api,
    control_restore_api,
    errors,
    imageactions,
    model,
    protocol,
    referenceactions,
    restoreactions,
    s3,
    signing,
    snapshotactions,
    state,
    sts,
)

log = logging.getLogger(__name__)

Handler = Callable[[state.SimState, protocol.Ec2Request, str], str]


def _on_model(action: Callable[[model.SimModel, protocol.Ec2Request, str], str]) -> Handler:
    """A store-task action, which sees only the account's model."""

    def handler(sim: state.SimState, req: protocol.Ec2Request, request_id: str) -> str:
        return action(sim.model, req, request_id)

    return handler


HANDLERS: dict[str, Handler] = {
    **{name: _on_model(action) for name, action in actions.HANDLERS.items()},
    "DescribeImages": imageactions.describe_images,
    "DescribeImageAttribute": imageactions.describe_image_attribute,
    "DeregisterImage": imageactions.deregister_image,
    "DescribeImageReferences": referenceactions.describe_image_references,
    "DescribeSnapshots": snapshotactions.describe_snapshots,
    "CreateRestoreImageTask": restoreactions.create_restore_image_task,
}
"""Every EC2 action served: the store-task ones see the account's model, the others its state."""

# AWS's commercial, China and GovCloud regions: a credential scoped to any other
# region is refused as AWS refuses it (AuthFailure), so "unknown region" is testable.
REGIONS = frozenset(
    [
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "cn-north-1",
        "cn-northwest-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-gov-east-1",
        "us-gov-west-1",
        "us-west-1",
        "us-west-2",
    ]
)


def _is_sts(authorization: str, action: str) -> bool:
    return signing.service(authorization) == "sts" or action in sts.ACTIONS


async def handle_sts(
    sim: state.SimState, request: web.Request, form: dict[str, str]
) -> web.StreamResponse:
    """Serve one STS Query-protocol call."""
    request_id = str(uuid.uuid4())
    action = form.get("Action", "")
    status, code, account = 200, None, ""
    try:
        authorization = request.headers.get("Authorization", "")
        if not signing.is_signed(authorization):
            raise sts.StsError(
                "MissingAuthenticationToken", "Request is missing Authentication Token", 403
            )
        caller = sim.sts.identify(signing.scope(authorization)[0])
        account = caller.account
        await sim.holds.wait(action)  # e.g. a slow GetCallerIdentity at the operator's start
        body = sts.answer(sim.sts, caller, form, request_id)
    except sts.StsError as exc:
        status, code = exc.status, exc.code
        body = sts.render_error(request_id, exc)
    logged = ("RoleArn", "RoleSessionName", "ExternalId")
    params: dict[str, object] = {k: v for k, v in form.items() if k in logged}
    sim.calls.add(sim.model.clock.now(), action, params, status, code, account)
    return web.Response(
        text=body, status=status, content_type="text/xml", headers={"x-amzn-RequestId": request_id}
    )


def _drop(request: web.Request) -> None:
    """Close the socket without an answer, so the client sees a broken connection."""
    transport = request.transport
    if transport is not None:
        transport.abort()


async def handle_ec2(request: web.Request) -> web.StreamResponse:
    """Serve one EC2 Query-protocol call."""
    sim = request.app[state.STATE_KEY]
    # A call still in flight across a reset belongs to the log it started in.
    calls = sim.calls
    if signing.service(request.headers.get("Authorization", "")) == "s3":
        return s3.not_implemented(request)  # ListBuckets and the like
    form: dict[str, str] = dict(request.query)
    if request.method == "POST":
        form.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    if _is_sts(request.headers.get("Authorization", ""), form.get("Action", "")):
        return await handle_sts(sim, request, form)
    req = protocol.parse(form)
    request_id = str(uuid.uuid4())
    status, code, account = 200, None, ""
    try:
        # Signatures are not verified; only their presence, as a missing one is a real bug.
        if not signing.is_signed(request.headers.get("Authorization", "")):
            raise errors.for_code("AuthFailure", req.action)
        try:
            account = sim.sts.identify(signing.scope(request.headers["Authorization"])[0]).account
        except sts.StsError as exc:
            raise errors.Ec2Error(exc.code, exc.message) from None
        sim = sim.for_account(account)
        region = signing.region(request.headers["Authorization"])
        if region and region not in REGIONS:  # hand-made headers in tests carry no full scope
            raise errors.Ec2Error(
                "AuthFailure", f"Credential should be scoped to a valid region, not '{region}'."
            )
        req.region = region
        delay, fault = sim.faults.take(req.action)
        if delay:
            await asyncio.sleep(delay)
        await sim.holds.wait(req.action)
        if fault is not None and fault.kind == "drop":
            calls.add(
                sim.model.clock.now(), req.action, req.to_log(), 0, "ConnectionDropped", account
            )
            _drop(request)
            raise web.HTTPServiceUnavailable()  # never reaches the client: the socket is gone
        if fault is not None:
            raise errors.for_code(fault.kind, req.action, fault.message)
        handler = HANDLERS.get(req.action)
        if handler is None:
            raise errors.Ec2Error(
                "InvalidAction", f"The action {req.action} is not valid for this web service."
            )
        if not sim.throttler.allow(req.action):
            raise errors.for_code("RequestLimitExceeded", req.action)
        body = handler(sim, req, request_id)
    except errors.Ec2Error as exc:
        status, code = exc.status, exc.code
        body = protocol.render_error(request_id, exc)
    calls.add(sim.model.clock.now(), req.action, req.to_log(), status, code, account)
    return web.Response(
        text=body,
        status=status,
        content_type=protocol.CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )


def make_app(sim: state.SimState) -> web.Application:
    """The application serving `sim`."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[state.STATE_KEY] = sim
    control_api.add_routes(app)
    for routes in (
        control_images_api.ROUTES,
        control_references_api.ROUTES,
        control_objects_api.ROUTES,
        control_restore_api.ROUTES,
    ):
        control_api.add_routes(app, routes)
    app.router.add_route("POST", "/", handle_ec2)
    app.router.add_route("GET", "/", handle_ec2)
    for method in ("HEAD", "GET", "PUT", "POST", "DELETE"):
        app.router.add_route(method, "/{bucket}/{key:.+}", s3.handle_object)
    return app


class Ec2SimServer:
    """The simulator on a loopback port; `state` (and `model`) are open to in-process tests."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, throttle: bool = True) -> None:
        self.host = host
        self.port = port
        self.state = state.SimState(throttle_enabled=throttle)
        self.app = make_app(self.state)
        self._runner: web.AppRunner | None = None

    @property
    def model(self) -> model.SimModel:
        """The current model (a new one after a reset)."""
        return self.state.model

    @property
    def url(self) -> str:
        """The endpoint URL for AWS_ENDPOINT_URL_EC2 and the control client."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen; with port 0 the OS picks a free port, then `port` holds it."""
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("ec2sim listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
