"""Control endpoints for AMI restores and S3 thaws (``?account=`` as elsewhere).

GET or POST /_sim/restore-settings: how CreateRestoreImageTask and RestoreObject
behave (simulator-wide; reset restores the defaults); only the keys given change:
    restore_duration_seconds: how long a restored AMI stays pending (default 60)
    restore_capacity_gb: GB of restores in progress an account may have before
        CreateRestoreImageTask answers ResourceLimitExceeded (default 600; 0 or
        null: unlimited)
    thaw_seconds: {"GLACIER": {"Expedited": s, "Standard": s, "Bulk": s},
        "DEEP_ARCHIVE": {"Standard": s, "Bulk": s}}, how long a RestoreObject takes
        (INTELLIGENT_TIERING's archive tiers take their archive's); only the tiers
        given change, null takes a tier away
    day_seconds: how long one of RestoreObject's Days lasts (default 86400)
The answer also holds in_progress_gb, the account's restores in progress now.
GET /_sim/restores: the account's restored AMIs, oldest first.
GET /_sim/restores/{ami_id}: one, 404 unless the account restored it.
POST /_sim/restores/{ami_id}: move a restored AMI; only the keys given change:
    progress: 0 to 99, pin its snapshots' progress (pending)
    state: available (complete it now), failed (fail it now, with "reason":
        {"code", "message"}, by default Server.InternalError), pending (let the
        clock move it again from where it is, over "duration_seconds" if given)
S3 objects' storage class and archive tier: POST /_sim/objects/... (see
control_objects_api); RestoreObject calls: GET /_sim/calls?action=RestoreObject.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.sandbox.ec2sim import (
    control_api,
    controljson,
    images,
    restoreactions,
    restores,
    state,
    thaw,
)
from tests.sandbox.ec2sim.controljson import Body


def restore_json(image: images.Image, restore: restores.Restore, now: float) -> dict[str, Any]:
    """The control API's JSON shape of a restored AMI."""
    reason = image.state_reason(now)
    return {
        "ami_id": image.ami_id,
        "name": image.name,
        "state": image.state_at(now),
        "progress": restore.progress_at(now),
        "state_reason": None if reason is None else {"code": reason[0], "message": reason[1]},
        "bucket": restore.bucket,
        "key": restore.key,
        "start_time": restore.start,
        "duration_seconds": restore.duration,
        "size_gb": restore.size_gb,
        "tags": dict(image.tags),
        "snapshots": [d.snapshot_id for d in image.devices],
        "deregistered": image.deregistered_at is not None,
    }


def _settings_json(sim: state.SimState) -> dict[str, Any]:
    settings = sim.restore_settings
    return {
        "restore_duration_seconds": settings.duration,
        "restore_capacity_gb": settings.capacity_gb,
        **sim.thaw_settings.to_json(),
        "in_progress_gb": restoreactions.in_progress_gb(sim, sim.model.clock.now()),
    }


def _thaw_seconds(value: Any) -> dict[str, dict[str, float | None]]:
    if not isinstance(value, dict) or not set(value) <= set(thaw.ARCHIVES):
        controljson.bad(f"thaw_seconds must be an object of {' or '.join(thaw.ARCHIVES)}")
    changes: dict[str, dict[str, float | None]] = {}
    for archive, tiers in value.items():
        if not isinstance(tiers, dict) or not set(tiers) <= set(thaw.TIERS):
            controljson.bad(f"thaw_seconds.{archive} must be an object of tier -> seconds")
        changes[archive] = {
            tier: None if seconds is None else controljson.number(tiers, tier)
            for tier, seconds in tiers.items()
        }
    return changes


async def settings(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET or POST /_sim/restore-settings: see the module docstring."""
    # Validate everything before changing anything, so a bad request changes nothing.
    duration = (
        controljson.number(body, "restore_duration_seconds")
        if "restore_duration_seconds" in body
        else None
    )
    capacity = body.get("restore_capacity_gb")
    if capacity is not None:
        capacity = controljson.number(body, "restore_capacity_gb")
    tiers = _thaw_seconds(body["thaw_seconds"]) if "thaw_seconds" in body else {}
    day = None
    if "day_seconds" in body:
        day = controljson.number(body, "day_seconds")
        if day <= 0:
            controljson.bad("day_seconds must be above 0")
    if duration is not None:
        sim.restore_settings.duration = duration
    if "restore_capacity_gb" in body:
        sim.restore_settings.capacity_gb = capacity or None  # 0 or null: unlimited
    for archive, changes in tiers.items():
        offered = sim.thaw_settings.thaw_seconds[archive]
        for tier, seconds in changes.items():
            if seconds is None:
                offered.pop(tier, None)
            else:
                offered[tier] = seconds
    if day is not None:
        sim.thaw_settings.day_seconds = day
    return _settings_json(sim)


def _restored(sim: state.SimState, request: web.Request) -> tuple[images.Image, restores.Restore]:
    ami_id = request.match_info["ami_id"]
    image = sim.images.records.get(ami_id)
    if image is None or image.restored is None:
        controljson.not_found(f"the account restored no AMI {ami_id}")
    return image, image.restored


async def list_restores(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET /_sim/restores."""
    now = sim.model.clock.now()
    found = [i for i in sim.images.records.values() if i.restored is not None]
    found.sort(key=lambda i: (i.creation_time, i.ami_id))
    return {"restores": [restore_json(i, i.restored, now) for i in found if i.restored]}


async def get_restore(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET /_sim/restores/{ami_id}."""
    return restore_json(*_restored(sim, request), sim.model.clock.now())


def _reason(body: Body) -> tuple[str, str]:
    value = body.get("reason")
    if value is None:
        return restores.DEFAULT_FAILURE
    if not isinstance(value, dict):
        controljson.bad("reason must be {code, message}")
    return controljson.text(value, "code"), controljson.text(value, "message")


async def update_restore(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """POST /_sim/restores/{ami_id}: see the module docstring."""
    image, restore = _restored(sim, request)
    now = sim.model.clock.now()
    progress = None
    if "progress" in body:
        progress = controljson.whole(body["progress"], "progress", 0)
        if progress > 99:
            controljson.bad("progress must be 0 to 99 (state: available completes it)")
    target = body.get("state")
    if target is not None:
        controljson.choice(target, "state", restores.STATES)
    reason = _reason(body) if target == "failed" else None
    duration = None
    if "duration_seconds" in body:
        duration = controljson.number(body, "duration_seconds")
    if target == "pending" or duration is not None:
        restore.resume(now, duration)
    if progress is not None:
        restore.pinned, restore.forced, restore.reason = progress, None, None
    if target == "available":
        restore.complete()
    elif reason is not None:
        restore.fail(now, reason)
    return restore_json(image, restore, now)


ROUTES: control_api.Routes = [
    ("GET", "/_sim/restore-settings", settings),
    ("POST", "/_sim/restore-settings", settings),
    ("GET", "/_sim/restores", list_restores),
    ("GET", "/_sim/restores/{ami_id}", get_restore),
    ("POST", "/_sim/restores/{ami_id}", update_restore),
]
