"""CreateRestoreImageTask: a new AMI from the S3 object a store task wrote.

Checks run in EC2's order: parameters, DryRun, then the bucket, the object, the
name and the account's capacity. The answer is the new AMI's ID and nothing
else: there is no task to describe. The AMI appears at once in DescribeImages,
``pending``, with its snapshots in DescribeSnapshots (see ``restores``), named
``Name`` or, without one, the name the object recorded when the AMI was stored,
and tagged as ``TagSpecifications`` say (``image``, ``snapshot``).

Documented: DryRun; AMI names unique per account and Region
(``InvalidAMIName.Duplicate``, its message naming the AMI that holds the name, as
EC2 words it) and their characters (``InvalidAMIName.Malformed``); a limit on the
restores in progress (600 GB per account). Ours, as AWS documents no error for
them: ``InvalidParameterValue`` for a missing object, an object no store task
wrote, and an archived object not thawed (or thawed and expired since);
``InvalidParameter`` for a bucket in another region (as CreateStoreImageTask);
``ResourceLimitExceeded`` past the limit, whose rule is the store limit's (see
``capacity``); ``InvalidParameterValue`` for a TagSpecification of another type.
"""

from __future__ import annotations

import re

from tests.sandbox.ec2sim import (
    errors,
    imageactions,
    images,
    imagexml,
    objects,
    protocol,
    restores,
    state,
)

NAME_RE = re.compile(r"^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$")
"""EC2's AMI names: 3 to 128 letters, digits and ( ) [ ] space . / - ' @ _."""
DEFAULT_NAME_RE = re.compile(r"^image-(ami-[0-9a-f]+)$")
TAGGED = ("image", "snapshot")
GIB = 2**30


def _check_request(req: protocol.Ec2Request) -> tuple[str, str]:
    """Bucket and ObjectKey, after the checks of the parameters alone."""
    bucket = imageactions.require(req.bucket, "Bucket")
    key = imageactions.require(req.object_key, "ObjectKey")
    for kind, _ in req.tag_specs:
        if kind not in TAGGED:
            raise errors.Ec2Error(
                "InvalidParameterValue",
                f"'{kind}' is not a valid taggable resource type for this operation.",
            )
    if req.name is not None and not NAME_RE.match(req.name):
        raise errors.Ec2Error(
            "InvalidAMIName.Malformed",
            f"AMI names must be between 3 and 128 characters long, and may contain letters, "
            f"numbers, '(', ')', '.', '-', '/' and '_': {req.name}",
        )
    return bucket, key


def _check_region(sim: state.SimState, bucket: str, region: str) -> None:
    where = sim.model.settings.bucket_regions.get(bucket)
    if where is not None and region and where != region:
        raise errors.Ec2Error(
            "InvalidParameter",
            f"The S3 bucket {bucket} is in {where}; restore AMIs from a bucket in {region}.",
        )


def stored_ami(sim: state.SimState, bucket: str, key: str, now: float) -> objects.S3Object:
    """The object holding a stored AMI, readable now; the error EC2 answers otherwise."""
    obj = sim.objects.head(sim.model, sim.images, bucket, key)
    where = f"s3://{bucket}/{key}"
    if obj is None:
        raise errors.Ec2Error("InvalidParameterValue", f"The S3 object {where} does not exist.")
    if obj.ami_name is None:
        raise errors.Ec2Error(
            "InvalidParameterValue",
            f"The S3 object {where} is not an AMI stored by CreateStoreImageTask.",
        )
    if not obj.readable(now):
        tier = f" ({obj.archive_status})" if obj.archive_status else ""
        raise errors.Ec2Error(
            "InvalidParameterValue",
            f"The S3 object {where} is in the {obj.storage_class} storage class{tier} and "
            "cannot be read; restore it with S3 RestoreObject first.",
        )
    return obj


def holder(sim: state.SimState, name: str) -> str | None:
    """The account's registered AMI named ``name``, if any (an AMI never looked at has its
    default name, ``image-<id>``)."""
    book = sim.images
    for ami_id, record in book.records.items():
        if record.name == name and record.deregistered_at is None and book.registered(ami_id):
            return ami_id
    default = DEFAULT_NAME_RE.match(name)
    if default and book.registered(default[1]) and default[1] not in book.records:
        return default[1]
    return None


def in_progress_gb(sim: state.SimState, now: float) -> float:
    """GiB of stored AMIs the account is restoring at ``now``."""
    return sum(
        image.restored.size_gb
        for image in sim.images.records.values()
        if image.restored is not None
        and sim.images.registered(image.ami_id)
        and image.state_at(now) == "pending"
    )


def _check_capacity(sim: state.SimState, size: float, now: float) -> None:
    limit = sim.restore_settings.capacity_gb
    if limit is None:
        return
    busy = in_progress_gb(sim, now)
    if busy > 0 and busy + size > limit:
        raise errors.Ec2Error(
            "ResourceLimitExceeded",
            f"AMI restores in progress in this account hold {busy:,g} GB of EBS snapshot "
            f"data; restoring {size:,g} GB more would exceed the limit of {limit:,g} GB. "
            "Try again when restores in progress have completed.",
        )


def _new_ami_id(sim: state.SimState) -> str:
    while True:
        ami_id = sim.ids.make("ami")
        if not any(ami_id in view.model.amis for view in sim.accounts()):
            return ami_id


def create_restore_image_task(
    sim: state.SimState, req: protocol.Ec2Request, request_id: str
) -> str:
    """CreateRestoreImageTask: register a pending AMI restored from the object."""
    bucket, key = _check_request(req)
    if req.dry_run:
        raise errors.dry_run_ok()
    now = sim.model.clock.now()
    _check_region(sim, bucket, req.region)
    obj = stored_ami(sim, bucket, key, now)
    name = req.name or obj.ami_name or key
    taken = holder(sim, name)
    if taken is not None:
        raise errors.Ec2Error(
            "InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {taken}"
        )
    size = obj.size / GIB
    _check_capacity(sim, size, now)
    duration = sim.restore_settings.duration
    restore = restores.Restore(bucket, key, now, duration, size)
    ami_id = _new_ami_id(sim)
    tags = {kind: [t for k, ts in req.tag_specs if k == kind for t in ts] for kind in TAGGED}
    image = images.Image(ami_id, name, now, tags=tags["image"], restored=restore)
    sim.model.register([ami_id])
    sim.images.records[ami_id] = image
    volumes = obj.volumes or (max(1, -(-obj.size // GIB)),)
    sim.images.set_devices(image, [(None, size_gib) for size_gib in volumes], now)
    for device in image.devices:
        snapshot = sim.images.snapshots[device.snapshot_id]
        snapshot.restored, snapshot.tags = restore, list(tags["snapshot"])
    return imagexml.restore_image_task(request_id, ami_id)
