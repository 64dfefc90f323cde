"""Control endpoints for S3 objects and buckets (``?account=`` as elsewhere).

GET /_sim/objects: the account's objects (completed store tasks' included).
GET /_sim/objects/{bucket}/{key}: one, 404 if there is none.
POST /_sim/objects/{bucket}/{key}: change an object; only the keys given change:
    size: bytes (Content-Length)
    storage_class: STANDARD, STANDARD_IA, GLACIER, DEEP_ARCHIVE, GLACIER_IR,
        INTELLIGENT_TIERING, ... (x-amz-storage-class, absent for STANDARD)
    expiration: {"expiry_date": unix seconds, "rule_id"} or null (x-amz-expiration)
    restore: {"ongoing": bool, "expiry_date"?: unix seconds} or null (x-amz-restore)
    archive_status: ARCHIVE_ACCESS | DEEP_ARCHIVE_ACCESS or null, for an
        INTELLIGENT_TIERING object (x-amz-archive-status)
    overwrite: true, a new write of the same object: a new ETag, Last-Modified now
    create: true, make the object if there is none (of ``size``, 8 GiB by default)
    (setting storage_class, restore or archive_status ends a RestoreObject's thaw)
DELETE /_sim/objects/{bucket}/{key}: delete it (404 if there was none).
GET /_sim/buckets: the buckets HeadObject refuses; POST /_sim/buckets/{bucket}
    {"denied": bool}: refuse (403) or allow HeadObject in that bucket.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.sandbox.ec2sim import control_api, controljson, images, objects, state
from tests.sandbox.ec2sim.controljson import Body


def _key(request: web.Request) -> tuple[str, str]:
    return request.match_info["bucket"], request.match_info["key"]


def _head(sim: state.SimState, bucket: str, key: str) -> objects.S3Object | None:
    return sim.objects.head(sim.model, sim.images, bucket, key)


async def list_objects(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET /_sim/objects."""
    sim.objects.settle(sim.model, sim.images)
    return {"objects": [o.to_json() for _, o in sorted(sim.objects.objects.items())]}


async def get_object(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET /_sim/objects/{bucket}/{key}."""
    obj = _head(sim, *_key(request))
    if obj is None:
        controljson.not_found("no such object")
    return obj.to_json()


def _expiration(value: Any) -> tuple[float, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        controljson.bad("expiration must be {expiry_date, rule_id} or null")
    return controljson.number(value, "expiry_date"), controljson.text(value, "rule_id")


def _restore(value: Any) -> tuple[bool, float | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        controljson.bad("restore must be {ongoing, expiry_date?} or null")
    until = None if value.get("expiry_date") is None else controljson.number(value, "expiry_date")
    return controljson.flag(value, "ongoing"), until


async def update_object(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """POST /_sim/objects/{bucket}/{key}: see the module docstring."""
    bucket, key = _key(request)
    now = sim.model.clock.now()
    obj = _head(sim, bucket, key)
    size = controljson.whole(body["size"], "size", 0) if "size" in body else None
    if obj is None and not body.get("create"):
        controljson.not_found("no such object (create: true makes one)")
    rewrite = obj is None or bool(body.get("overwrite"))
    storage_class = "STANDARD" if rewrite or obj is None else obj.storage_class
    if "storage_class" in body:
        storage_class = controljson.choice(
            body["storage_class"], "storage_class", objects.STORAGE_CLASSES
        )
    expiration = _expiration(body["expiration"]) if "expiration" in body else None
    restore = _restore(body["restore"]) if "restore" in body else None
    status = body.get("archive_status")
    if status is not None:
        controljson.choice(status, "archive_status", objects.ARCHIVE_STATUSES)
        if storage_class != "INTELLIGENT_TIERING":
            controljson.bad("archive_status is for INTELLIGENT_TIERING objects only")
    if rewrite:
        default = obj.size if obj is not None else images.DEFAULT_SNAPSHOT_GIB * 2**30
        obj = sim.objects.write(bucket, key, default, now, None)
    assert obj is not None  # written just above when there was none
    if size is not None:
        obj.size = size
    obj.storage_class = storage_class
    if "expiration" in body:
        obj.expiration = expiration
    if "restore" in body:
        obj.restore = restore
    if "archive_status" in body:
        obj.archive_status = status
    if {"storage_class", "restore", "archive_status"} & body.keys():
        obj.thawing = None  # what a test sets replaces a RestoreObject's thaw
    return obj.to_json()


async def delete_object(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """DELETE /_sim/objects/{bucket}/{key}."""
    bucket, key = _key(request)
    _head(sim, bucket, key)  # a completed task's object exists before it is deleted
    if not sim.objects.delete(bucket, key, sim.model.clock.now()):
        controljson.not_found("no such object")
    return {"deleted": True}


async def list_buckets(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET /_sim/buckets."""
    return {"denied": sorted(sim.objects.denied)}


async def update_bucket(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """POST /_sim/buckets/{bucket} {"denied": bool}."""
    bucket = request.match_info["bucket"]
    if controljson.flag(body, "denied"):
        sim.objects.denied.add(bucket)
    else:
        sim.objects.denied.discard(bucket)
    return {"denied": sorted(sim.objects.denied)}


ROUTES: control_api.Routes = [
    ("GET", "/_sim/objects", list_objects),
    ("GET", "/_sim/objects/{bucket}/{key:.+}", get_object),
    ("POST", "/_sim/objects/{bucket}/{key:.+}", update_object),
    ("DELETE", "/_sim/objects/{bucket}/{key:.+}", delete_object),
    ("GET", "/_sim/buckets", list_buckets),
    ("POST", "/_sim/buckets/{bucket}", update_bucket),
]
