"""The control API under `/_sim/`: JSON in and out, no auth, for tests and benchmarks.

A task spec (POST /_sim/tasks, and the template of POST /_sim/bulk):
    ami_id, bucket: strings (required; bulk generates ami_id)
    duration_seconds: 0 -> 100 percent linearly over this long (default: the
        create duration, 60 s); "progress" without "duration_seconds" pins
        the progress instead
    queued_seconds: at 0 percent this long before moving (AWS's queue)
    segments: [[up_to_percent, seconds], ...], a piecewise-linear curve after
        the queue instead of duration_seconds
    steps: [percent, ...], the only percentages reported (uneven steps)
    fail_at_percent, failure_reason: fail on reaching this percentage
    started_seconds_ago (default 0) or start_time (Unix seconds)
    state: InProgress | Completed | Failed, forced over the script
    object_key: default "<ami_id>.bin"; register: also register the AMI (default true)
Bulk adds count, first_id (AMI number to start at), spread_seconds (start times
spread back over this long, newest first) and fail_every (every Nth task fails
at 0 percent with "Access Denied for bucket <bucket>").
Held calls (POST /_sim/hold {"action": "DescribeStoreImageTasks"}): later calls of
that action stay in flight until DELETE /_sim/hold (?action= for one); GET shows
how many wait. A reset releases them. STS actions (GetCallerIdentity, AssumeRole)
can be held too.
Accounts: every endpoint but reset takes ?account=ID (12 digits) to act on that
account's tasks and throttle buckets (default: the operator's own account). STS:
GET/POST /_sim/sts (session_seconds, default_account; roles and sessions),
POST /_sim/sts/roles {"role_arn", "external_id", "refuse"} registers a role.
CreateStoreImageTask (GET/POST /_sim/config; only the keys given change; reset
restores the defaults; settings are simulator-wide, ami_sizes the account's):
    create_duration_seconds: how long the tasks it starts take (default 60)
    store_capacity_gb: GB of store work in progress an account may have before
        creates are refused with ResourceLimitExceeded (default 1200, AWS's
        documented limit; 0 or null: unlimited); see `capacity`
    ami_size_gb: the GB of an AMI without its own size (default 60)
    ami_sizes: {"ami-...": GB, ...}, sizes of the account's AMIs
    bucket_regions: {"bucket": "region", ...}, where S3 buckets are: a create from
        another region is refused with InvalidParameter (a bucket not named is anywhere)
    visibility_delay_seconds: a task it starts stays out of DescribeStoreImageTasks
        this long (default 0); GET /_sim/tasks shows it with "visible": false
The answer also holds in_progress_gb, the account's store work in progress now.
Images, snapshots and image settings: control_images_api; the resources that
reference AMIs: control_references_api; S3 objects and buckets: control_objects_api.
Errors answer HTTP 400 (404 for an unknown task) with {"error": "..."}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.sandbox.ec2sim import capacity, model, protocol, state

ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


class BadRequestError(Exception):
    """A control request the simulator cannot act on (answered with HTTP 400)."""


def _num(body: dict[str, Any], key: str, default: float | None = None) -> float | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestError(f"{key} must be a number")
    return float(value)


def _int(body: dict[str, Any], key: str) -> int | None:
    value = _num(body, key)
    return None if value is None else int(value)


def _ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("ami_ids")
    if not isinstance(ids, list) or not all(isinstance(a, str) for a in ids):
        raise BadRequestError("ami_ids must be a list of strings")
    return ids


def _segments(body: dict[str, Any]) -> tuple[tuple[float, float], ...]:
    value = body.get("segments", [])
    pieces = []
    ok = isinstance(value, list)
    for piece in value if ok else ():
        if not isinstance(piece, list | tuple) or len(piece) != 2:
            ok = False
            break
        until, seconds = piece
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in piece)
        if not numbers or not 0 < until <= 100 or seconds <= 0:
            ok = False
            break
        pieces.append((float(until), float(seconds)))
    if not ok or [u for u, _ in pieces] != sorted({u for u, _ in pieces}):
        raise BadRequestError("segments must be [[up_to_percent, seconds], ...], rising")
    return tuple(pieces)


def _steps(body: dict[str, Any]) -> tuple[int, ...]:
    value = body.get("steps", [])
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100 for v in value
    ):
        raise BadRequestError("steps must be a list of percentages (1 to 100)")
    return tuple(sorted(set(value)))


def _state_value(value: Any) -> str | None:
    if value is not None and value not in model.STATES:
        raise BadRequestError(f"state must be one of {', '.join(model.STATES)} or null")
    return value if value is None else str(value)


def clock_json(clock: model.SimClock) -> dict[str, Any]:
    """The clock as the control API shows it."""
    now = clock.now()
    return {
        "now": now,
        "now_iso": protocol.timestamp(now),
        "frozen": clock.frozen,
        "offset_seconds": clock.offset,
    }


def task_from_spec(sim: state.SimState, spec: dict[str, Any], now: float) -> model.StoreTask:
    """Build a task from its control-API spec (see the module docstring)."""
    ami_id, bucket = spec.get("ami_id"), spec.get("bucket")
    if not isinstance(ami_id, str) or not isinstance(bucket, str):
        raise BadRequestError("a task needs ami_id and bucket strings")
    start = _num(spec, "start_time")
    if start is None:
        start = now - (_num(spec, "started_seconds_ago", 0.0) or 0.0)
    segments = _segments(spec)
    fixed = "progress" in spec and "duration_seconds" not in spec and not segments
    duration = _num(spec, "duration_seconds", sim.model.settings.create_duration)
    if segments:
        duration = sum(seconds for _, seconds in segments)
    task = model.StoreTask(
        ami_id=ami_id,
        bucket=bucket,
        start_time=start,
        duration=None if fixed else duration,
        progress=_int(spec, "progress") or 0,
        queued_seconds=_num(spec, "queued_seconds", 0.0) or 0.0,
        segments=segments,
        steps=_steps(spec),
        fail_at=_int(spec, "fail_at_percent"),
        failure_reason=str(spec.get("failure_reason", "")),
        forced_state=_state_value(spec.get("state")),
    )
    if spec.get("object_key"):
        task.object_key = str(spec["object_key"])
    return task


async def reset(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """POST /_sim/reset: a fresh simulator (clock, AMIs, tasks, throttling, faults, calls)."""
    sim.reset()
    return {"ok": True}


async def get_state(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET /_sim/state: counts and settings at a glance."""
    return {
        "clock": clock_json(sim.model.clock),
        "amis": sum(sim.model.amis.values()),
        "tasks": len(sim.model.tasks),
        "create_duration_seconds": sim.model.settings.create_duration,
        "store_capacity_gb": sim.model.settings.store_capacity_gb,
        "visibility_delay_seconds": sim.model.settings.visibility_delay,
        "throttle": sim.throttler.to_json(),
        "faults": [f.to_json() for f in sim.faults.faults],
        "calls": len(sim.calls.calls),
    }


async def register_amis(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """POST /_sim/amis {"ami_ids": [...]}."""
    ids = _ids(body)
    sim.model.register(ids)
    return {"registered": len(ids)}


async def deregister_amis(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """POST /_sim/amis/deregister {"ami_ids": [...]}."""
    ids = _ids(body)
    sim.model.deregister(ids)
    sim.images.mark_deregistered(ids, sim.model.clock.now())
    return {"deregistered": len(ids)}


async def create_tasks(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """POST /_sim/tasks: one task spec, or {"tasks": [spec, ...]}."""
    specs = body.get("tasks", [body])
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise BadRequestError("tasks must be a list of objects")
    now = sim.model.clock.now()
    tasks = [task_from_spec(sim, spec, now) for spec in specs]
    for spec, task in zip(specs, tasks, strict=True):
        if spec.get("register", True):
            sim.model.register([task.ami_id])
        sim.model.put(task)
    return {"tasks": [model.view(t, now).to_json() for t in tasks]}


async def list_tasks(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET /_sim/tasks: every stored task, newest first, with `visible`."""
    now = sim.model.clock.now()
    ordered = sorted(sim.model.tasks.values(), key=lambda t: t.key)
    return {
        "tasks": [
            {**model.view(t, now).to_json(), "visible": sim.model.visible(t, now)} for t in ordered
        ]
    }


def _task(sim: state.SimState, request: web.Request) -> model.StoreTask:
    task = sim.model.tasks.get(request.match_info["ami_id"])
    if task is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such task"}), content_type="application/json"
        )
    return task


async def get_task(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET /_sim/tasks/{ami_id}: one task as EC2 would report it now."""
    return model.view(_task(sim, request), sim.model.clock.now()).to_json()


async def update_task(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """POST /_sim/tasks/{ami_id}: change progress, state, reason, bucket, start."""
    task = _task(sim, request)
    now = sim.model.clock.now()
    if "progress" in body:
        # Pin the progress where the test puts it; the script no longer moves it.
        task.duration, task.progress, task.fail_at = None, _int(body, "progress") or 0, None
    if "duration_seconds" in body:
        task.duration = _num(body, "duration_seconds")
        task.segments = ()  # a linear duration replaces a curve
    if "state" in body:
        task.forced_state = _state_value(body["state"])
    if "failure_reason" in body:
        task.failure_reason = str(body["failure_reason"])
    if "fail_at_percent" in body:
        task.fail_at = _int(body, "fail_at_percent")
    if "bucket" in body:
        task.bucket = str(body["bucket"])
    if "started_seconds_ago" in body:
        sim.model.reindex(task, now - (_num(body, "started_seconds_ago") or 0.0))
    return model.view(task, now).to_json()


async def bulk(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """POST /_sim/bulk: `count` generated AMIs, each with a task from the same spec."""
    count = _int(body, "count") or 0
    if not 0 < count <= 1_000_000:
        raise BadRequestError("count must be between 1 and 1000000")
    first = _int(body, "first_id")
    if first is None:
        first = len(sim.model.amis) + 1
    spread = _num(body, "spread_seconds", 0.0) or 0.0
    fail_every = _int(body, "fail_every") or 0
    template = {k: v for k, v in body.items() if k not in ("count", "first_id", "spread_seconds")}
    template.setdefault("bucket", "amistore-bench")
    now = sim.model.clock.now()
    ago = _num(body, "started_seconds_ago", 0.0) or 0.0
    ids = [f"ami-{first + i:017x}" for i in range(count)]
    tasks = []
    for i, ami_id in enumerate(ids):
        spec = {**template, "ami_id": ami_id, "started_seconds_ago": ago + spread * i / count}
        if fail_every and (i + 1) % fail_every == 0:
            spec.setdefault("fail_at_percent", 0)
            spec.setdefault("failure_reason", f"Access Denied for bucket {template['bucket']}")
        tasks.append(task_from_spec(sim, spec, now))
    sim.model.register(ids)
    sim.model.put_many(tasks)
    return {"count": count, "first_ami_id": ids[0], "last_ami_id": ids[-1], "ami_ids": ids}


async def clock(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET or POST /_sim/clock: freeze, set and/or advance the simulated clock."""
    c = sim.model.clock
    if "freeze" in body:
        c.freeze(bool(body["freeze"]))
    if "set" in body:
        c.set(_num(body, "set") or 0.0)
    if "advance_seconds" in body:
        c.advance(_num(body, "advance_seconds") or 0.0)
    return clock_json(c)


async def throttle(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET or POST /_sim/throttle: per-action buckets and the on/off switch."""
    if body.get("reset"):
        sim.throttler.reset()
    if "enabled" in body:
        sim.throttler.enabled = bool(body["enabled"])
    for action, limits in dict(body.get("actions", {})).items():
        try:
            sim.throttler.configure(action, float(limits["burst"]), float(limits["rate"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestError(
                f"throttle for {action}: need numeric burst >= 1, rate >= 0"
            ) from exc
    return sim.throttler.to_json()


async def faults(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET, POST or DELETE /_sim/faults: list, inject or clear faults."""
    if request.method == "POST":
        try:
            fault = sim.faults.inject(
                kind=str(body.get("kind")),
                action=body.get("action"),
                count=_int(body, "count"),
                delay_seconds=_num(body, "delay_seconds", 0.0) or 0.0,
                message=body.get("message"),
            )
        except ValueError as exc:
            raise BadRequestError(str(exc)) from exc
        return fault.to_json()
    if request.method == "DELETE":
        return {"cleared": sim.faults.clear(request.query.get("action"))}
    return {"faults": [f.to_json() for f in sim.faults.faults]}


async def calls(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET or DELETE /_sim/calls: read (optionally ?action=) or clear the call log."""
    if request.method == "DELETE":
        return {"cleared": sim.calls.clear()}
    action = request.query.get("action")
    return {"calls": [c.to_json() for c in sim.calls.calls if action in (None, c.action)]}


async def holds(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET, POST or DELETE /_sim/hold: see, start ({"action": ...}) or release held calls.

    DELETE takes ?action= to release one action; it answers how many calls were waiting.
    """
    if request.method == "POST":
        action = body.get("action")
        if not isinstance(action, str) or not action:
            raise BadRequestError("hold needs an action name")
        sim.holds.hold(action)
    if request.method == "DELETE":
        return {"released": sim.holds.release(request.query.get("action"))}
    return {"holding": sim.holds.holding(), "held": sim.holds.held()}


async def sts_config(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET or POST /_sim/sts: session length, the default account; roles and sessions issued.

    {"session_seconds": N} sets how long later AssumeRole sessions last (botocore
    refreshes 15 minutes before expiry, so 900 + N refreshes about every N seconds).
    """
    if "session_seconds" in body:
        seconds = _num(body, "session_seconds") or 0.0
        if seconds <= 0:
            raise BadRequestError("session_seconds must be above 0")
        sim.sts.session_seconds = seconds
    if "default_account" in body:
        account = str(body["default_account"])
        if not ACCOUNT_ID.fullmatch(account):
            raise BadRequestError("default_account must be 12 digits")
        sim.sts.default_account = account
    return sim.sts.to_json()


async def sts_role(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """POST /_sim/sts/roles {"role_arn", "external_id"?, "refuse"?}: register or change a role.

    ``external_id``: the one its trust policy requires; ``refuse``: a message AssumeRole
    is refused with (AccessDenied), null to accept again.
    """
    arn, external_id, refuse = body.get("role_arn"), body.get("external_id"), body.get("refuse")
    if not isinstance(arn, str):
        raise BadRequestError("role_arn must be a string")
    if external_id is not None and not isinstance(external_id, str):
        raise BadRequestError("external_id must be a string or null")
    if refuse is not None and not isinstance(refuse, str):
        raise BadRequestError("refuse must be a string or null")
    try:
        role = sim.sts.put_role(arn, external_id, refuse)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc
    return {"role_arn": role.arn, "account": role.account}


def _at_least(body: dict[str, Any], key: str, low: float, above: bool = False) -> float:
    value = _num(body, key)
    if value is None or value < low or (above and value == low):
        raise BadRequestError(f"{key} must be a number {'above' if above else 'at least'} {low:g}")
    return value


def _sizes(body: dict[str, Any]) -> dict[str, float]:
    sizes = body["ami_sizes"]
    if not isinstance(sizes, dict):
        raise BadRequestError("ami_sizes must be an object of AMI ID -> GB")
    return {str(ami): _at_least(sizes, ami, 0.0, above=True) for ami in sizes}


async def config(sim: state.SimState, body: dict[str, Any], request: web.Request) -> Any:
    """GET or POST /_sim/config: how CreateStoreImageTask behaves (see the module docstring)."""
    settings = sim.model.settings
    # Validate everything before changing anything, so a bad request changes nothing.
    changes: dict[str, float | None] = {}
    if "create_duration_seconds" in body:
        changes["create_duration"] = _at_least(body, "create_duration_seconds", 0.0)
    if "store_capacity_gb" in body:
        limit = (
            None if body["store_capacity_gb"] is None else _at_least(body, "store_capacity_gb", 0.0)
        )
        changes["store_capacity_gb"] = limit or None  # 0 or null: unlimited
    if "ami_size_gb" in body:
        changes["ami_size_gb"] = _at_least(body, "ami_size_gb", 0.0, above=True)
    if "visibility_delay_seconds" in body:
        changes["visibility_delay"] = _at_least(body, "visibility_delay_seconds", 0.0)
    sizes = _sizes(body) if "ami_sizes" in body else {}
    regions = body.get("bucket_regions", {})
    if not isinstance(regions, dict) or not all(isinstance(v, str) for v in regions.values()):
        raise BadRequestError("bucket_regions must be an object of bucket -> region")
    for name, value in changes.items():
        setattr(settings, name, value)
    sim.model.ami_sizes.update(sizes)
    settings.bucket_regions.update({str(k): v for k, v in regions.items()})
    return {
        "create_duration_seconds": settings.create_duration,
        "store_capacity_gb": settings.store_capacity_gb,
        "ami_size_gb": settings.ami_size_gb,
        "visibility_delay_seconds": settings.visibility_delay,
        "ami_sizes": dict(sim.model.ami_sizes),
        "bucket_regions": dict(settings.bucket_regions),
        "in_progress_gb": capacity.in_progress_gb(sim.model, sim.model.clock.now()),
    }


Routes = list[tuple[str, str, Callable[..., Awaitable[Any]]]]
ROUTES: Routes = [
    ("POST", "/_sim/reset", reset),
    ("GET", "/_sim/state", get_state),
    ("POST", "/_sim/amis", register_amis),
    ("POST", "/_sim/amis/deregister", deregister_amis),
    ("POST", "/_sim/tasks", create_tasks),
    ("GET", "/_sim/tasks", list_tasks),
    ("GET", "/_sim/tasks/{ami_id}", get_task),
    ("POST", "/_sim/tasks/{ami_id}", update_task),
    ("POST", "/_sim/bulk", bulk),
    ("GET", "/_sim/clock", clock),
    ("POST", "/_sim/clock", clock),
    ("GET", "/_sim/throttle", throttle),
    ("POST", "/_sim/throttle", throttle),
    ("GET", "/_sim/faults", faults),
    ("POST", "/_sim/faults", faults),
    ("DELETE", "/_sim/faults", faults),
    ("GET", "/_sim/calls", calls),
    ("DELETE", "/_sim/calls", calls),
    ("GET", "/_sim/hold", holds),
    ("POST", "/_sim/hold", holds),
    ("DELETE", "/_sim/hold", holds),
    ("GET", "/_sim/config", config),
    ("POST", "/_sim/config", config),
    ("GET", "/_sim/sts", sts_config),
    ("POST", "/_sim/sts", sts_config),
    ("POST", "/_sim/sts/roles", sts_role),
]


def _wrap(
    handler: Callable[..., Awaitable[Any]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def route(request: web.Request) -> web.Response:
        body: Any = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except json.JSONDecodeError:
                return web.json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        sim = request.app[state.STATE_KEY]
        account = request.query.get("account")
        if account and handler is not reset:
            if not ACCOUNT_ID.fullmatch(account):
                return web.json_response({"error": "account must be 12 digits"}, status=400)
            sim = sim.for_account(account)  # that account's tasks and throttle buckets
        try:
            result = await handler(sim, body, request)
        except BadRequestError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(result)

    return route


def add_routes(app: web.Application, routes: Routes | None = None) -> None:
    """Mount the control API's routes (or those given, served the same way) on `app`."""
    for method, path, handler in ROUTES if routes is None else routes:
        app.router.add_route(method, path, _wrap(handler))
