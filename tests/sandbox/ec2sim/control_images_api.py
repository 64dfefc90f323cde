"""Control endpoints for AMIs, snapshots and image settings (``?account=`` as elsewhere).

GET /_sim/images: the account's AMIs (registered, and deregistered ones with a record).
GET /_sim/images/{ami_id}: one, 404 unless the account has it.
POST /_sim/images/{ami_id}: change a registered AMI; only the keys given change:
    name: string
    public: bool (the launch permission group "all")
    user_ids, organization_arns, organizational_unit_arns: launch permissions
    protection: disabled | enabled | enabled-with-cooldown, as Enable/Disable
        ImageDeregistrationProtection set it (disabling a protection with cooldown
        leaves it disabled-until-<now + 24 h>)
    snapshots: [GiB, ...] or [{"snapshot_id"?: "snap-...", "size_gib": N}, ...], the
        block device mapping (1 to 16 volumes); an ID the account has already is
        shared (its own size), a new one or none makes a snapshot
    owner: a 12-digit account the AMI moves to, with its unshared snapshots (the
        account here no longer has it registered)
GET /_sim/snapshots: the account's snapshots.
POST /_sim/snapshots/{snapshot_id} {"delete_result": missing-permissions |
    internal-error | client-error | null}: what DeregisterImage reports for it
    instead of deleting it (null: deleted again).
GET or POST /_sim/image-settings {"deregistered_visible_seconds": N}: how long a
    deregistered AMI stays listed as ``deregistered`` (simulator-wide, default 0).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.sandbox.ec2sim import control_api, controljson, images, state
from tests.sandbox.ec2sim.controljson import Body


def image_json(sim: state.SimState, image: images.Image, now: float) -> dict[str, Any]:
    """The control API's JSON shape of an AMI."""
    registered = sim.images.registered(image.ami_id) and image.deregistered_at is None
    return {
        "ami_id": image.ami_id,
        "owner": sim.account,
        "name": image.name,
        "state": image.state_at(now) if registered else "deregistered",
        "public": image.public,
        "user_ids": list(image.user_ids),
        "organization_arns": list(image.organization_arns),
        "organizational_unit_arns": list(image.organizational_unit_arns),
        "protection": image.protection_at(now),
        "snapshots": [
            {
                "snapshot_id": d.snapshot_id,
                "device_name": d.device_name,
                "size_gib": d.size_gib,
                "exists": d.snapshot_id in sim.images.snapshots,
            }
            for d in image.devices
        ],
        "size_bytes": image.size_bytes(),
    }


def _image(sim: state.SimState, request: web.Request, now: float) -> images.Image:
    ami_id = request.match_info["ami_id"]
    image = sim.images.get(ami_id, now) or sim.images.records.get(ami_id)
    if image is None:
        controljson.not_found(f"the account has no AMI {ami_id}")
    return image


def _volumes(body: Body) -> list[tuple[str | None, int]]:
    value = body["snapshots"]
    if not isinstance(value, list) or not 1 <= len(value) <= len(images.DEVICE_NAMES):
        controljson.bad(f"snapshots must be a list of 1 to {len(images.DEVICE_NAMES)} volumes")
    volumes: list[tuple[str | None, int]] = []
    for item in value:
        spec = item if isinstance(item, dict) else {"size_gib": item}
        snapshot_id = controljson.optional_text(spec, "snapshot_id")
        if snapshot_id is not None and not images.SNAPSHOT_ID_RE.match(snapshot_id):
            controljson.bad(f"{snapshot_id} is not a snapshot ID (snap- and 8 or 17 hex)")
        volumes.append((snapshot_id, controljson.whole(spec.get("size_gib"), "size_gib")))
    return volumes


def _move(sim: state.SimState, image: images.Image, owner: str) -> None:
    """Give the AMI, and the snapshots no other AMI here uses, to another account."""
    target = sim.for_account(owner)
    if target is sim:
        return
    for device in image.devices:
        snapshot = sim.images.snapshots.get(device.snapshot_id)
        if snapshot is not None and not sim.images.used_elsewhere(device.snapshot_id, image.ami_id):
            target.images.snapshots[device.snapshot_id] = sim.images.snapshots.pop(
                device.snapshot_id
            )
    sim.model.deregister([image.ami_id])
    sim.images.records.pop(image.ami_id, None)
    target.model.register([image.ami_id])
    target.images.records[image.ami_id] = image


async def list_images(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET /_sim/images."""
    now = sim.model.clock.now()
    sim.images.registered_images(now)
    return {
        "images": [image_json(sim, sim.images.records[a], now) for a in sorted(sim.images.records)]
    }


async def get_image(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET /_sim/images/{ami_id}."""
    now = sim.model.clock.now()
    return image_json(sim, _image(sim, request, now), now)


async def update_image(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """POST /_sim/images/{ami_id}: see the module docstring."""
    now = sim.model.clock.now()
    image = _image(sim, request, now)
    if image.deregistered_at is not None or not sim.images.registered(image.ami_id):
        controljson.bad(f"{image.ami_id} is deregistered")
    # Validate everything before changing anything, so a bad request changes nothing.
    protection = body.get("protection")
    if protection is not None:
        controljson.choice(protection, "protection", images.PROTECTIONS)
    volumes = _volumes(body) if "snapshots" in body else None
    owner = body.get("owner")
    if owner is not None and not images.ACCOUNT_RE.match(str(owner)):
        controljson.bad("owner must be 12 digits")
    grants = {
        key: controljson.strings(body, key)
        for key in ("user_ids", "organization_arns", "organizational_unit_arns")
        if key in body
    }
    if "name" in body:
        image.name = controljson.text(body, "name")
    if "public" in body:
        image.public = controljson.flag(body, "public")
    for key, values in grants.items():
        setattr(image, key, values)
    if protection is not None:
        image.set_protection(protection, now)
    if volumes is not None:
        sim.images.set_devices(image, volumes, now)
    result = image_json(sim, image, now)
    if owner is not None:
        _move(sim, image, str(owner))
        result["owner"] = str(owner)
    return result


async def list_snapshots(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET /_sim/snapshots."""
    sim.images.registered_images(sim.model.clock.now())
    return {
        "snapshots": [
            {"snapshot_id": s.snapshot_id, "size_gib": s.size_gib, "delete_result": s.delete_result}
            for s in sorted(sim.images.snapshots.values(), key=lambda s: s.snapshot_id)
        ]
    }


async def update_snapshot(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """POST /_sim/snapshots/{snapshot_id} {"delete_result": ...}."""
    sim.images.registered_images(sim.model.clock.now())
    snapshot = sim.images.snapshots.get(request.match_info["snapshot_id"])
    if snapshot is None:
        controljson.not_found("the account has no such snapshot")
    result = body.get("delete_result")
    if result is not None:
        controljson.choice(result, "delete_result", images.DELETE_FAULTS)
    snapshot.delete_result = result
    return {"snapshot_id": snapshot.snapshot_id, "delete_result": snapshot.delete_result}


async def image_settings(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET or POST /_sim/image-settings."""
    if "deregistered_visible_seconds" in body:
        seconds = controljson.number(body, "deregistered_visible_seconds")
        sim.image_settings.deregistered_visible_seconds = seconds
    return {"deregistered_visible_seconds": sim.image_settings.deregistered_visible_seconds}


ROUTES: control_api.Routes = [
    ("GET", "/_sim/images", list_images),
    ("GET", "/_sim/images/{ami_id}", get_image),
    ("POST", "/_sim/images/{ami_id}", update_image),
    ("GET", "/_sim/snapshots", list_snapshots),
    ("POST", "/_sim/snapshots/{snapshot_id}", update_snapshot),
    ("GET", "/_sim/image-settings", image_settings),
    ("POST", "/_sim/image-settings", image_settings),
]
