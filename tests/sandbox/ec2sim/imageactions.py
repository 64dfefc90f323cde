"""DescribeImages, DescribeImageAttribute and DeregisterImage, validated as EC2 does.

Checks run in EC2's order: parameters, malformed IDs, DryRun, then the AMIs.
"""

from __future__ import annotations

import re

from tests.sandbox.ec2sim import errors, images, imagexml, model, paging, protocol, state
from tests.sandbox.ec2sim import visibility as vis

IMAGE_FILTERS = ("name", "image-id", "owner-id", "state", "is-public")
TAG_FILTER = "tag:"  # tag:KEY, any key: the AMI's tag KEY has one of the values
OWNER_ALIASES = ("amazon", "aws-marketplace", "aws-backup-vault")
"""Owners EC2 accepts besides account IDs and ``self``; the simulator has no such AMIs."""
ATTRIBUTES = (
    "description",
    "kernel",
    "ramdisk",
    "launchPermission",
    "productCodes",
    "blockDeviceMapping",
    "sriovNetSupport",
    "bootMode",
    "tpmSupport",
    "uefiData",
    "lastLaunchedTime",
    "imdsSupport",
    "deregistrationProtection",
)


def wildcard(pattern: str) -> re.Pattern[str]:
    """An EC2 filter value: ``*`` any run, ``?`` one character, ``\\`` escapes them."""
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append({"*": ".*", "?": "."}.get(char, re.escape(char)))
    return re.compile("".join(out), re.DOTALL)


def require(value: str | None, name: str) -> str:
    """A required parameter, or MissingParameter."""
    if not value:
        raise errors.Ec2Error("MissingParameter", f"The request must contain the parameter {name}")
    return value


def check_owners(owners: list[str] | None) -> None:
    """Owners are account IDs, ``self`` or an Amazon alias."""
    for owner in owners or ():
        if owner != "self" and owner not in OWNER_ALIASES and not images.ACCOUNT_RE.match(owner):
            raise errors.Ec2Error(
                "InvalidParameterValue", f"Value ({owner}) for parameter owners is invalid."
            )


def check_filters(req: protocol.Ec2Request, names: tuple[str, ...], *, tags: bool = False) -> None:
    """Only the filters the simulator evaluates (``tag:KEY`` too, with ``tags``); another is
    refused, not ignored."""
    for name, _ in req.filters:
        if name not in names and not (tags and name.startswith(TAG_FILTER) and name[4:]):
            raise errors.Ec2Error("InvalidParameterValue", f"The filter '{name}' is invalid")


def _fields(seen: vis.Seen) -> dict[str, str]:
    image = seen.image
    return {
        "name": image.name,
        "image-id": image.ami_id,
        "owner-id": seen.owner,
        "state": seen.state,
        "is-public": "true" if image.public else "false",
    }


def _wanted(seen: vis.Seen, req: protocol.Ec2Request, caller: str) -> bool:
    """Whether Owners, ExecutableUsers and Filters keep the AMI."""
    if req.owners is not None and not any(
        o == seen.owner or (o == "self" and seen.owner == caller) for o in req.owners
    ):
        return False
    image = seen.image
    if req.executable_by is not None and not any(
        (e == "all" and image.public) or (caller if e == "self" else e) in image.user_ids
        for e in req.executable_by
    ):
        return False
    fields, tagged = _fields(seen), dict(image.tags)
    for name, values in req.filters:
        # tag:KEY: the value of the AMI's tag KEY; an AMI without that tag never matches.
        field = tagged.get(name[4:]) if name.startswith(TAG_FILTER) else fields[name]
        if field is None or not any(wildcard(v).fullmatch(field) for v in values):
            return False
    return True


def _view(seen: vis.Seen, now: float) -> imagexml.ImageView:
    return imagexml.ImageView(seen.image, seen.owner, seen.state, seen.image.protection_at(now))


def describe_images(sim: state.SimState, req: protocol.Ec2Request, request_id: str) -> str:
    """DescribeImages: by ImageIds, or every AMI the caller sees, paginated."""
    limit = paging.max_results(req.max_results)
    if req.image_ids is not None and limit is not None:
        raise errors.Ec2Error(
            "InvalidParameterCombination",
            "The parameter ImageIds cannot be used with the parameter MaxResults",
        )
    check_filters(req, IMAGE_FILTERS, tags=True)
    check_owners(req.owners)
    for ami_id in req.image_ids or ():
        if not model.AMI_ID_RE.match(ami_id):
            raise errors.malformed_ami(ami_id)
    if req.dry_run:
        raise errors.dry_run_ok()
    now = sim.model.clock.now()
    token = None
    if req.image_ids is None:
        kept = [s for s in vis.listing(sim, now) if _wanted(s, req, sim.account)]
        shown, token = paging.page(
            "DescribeImages", kept, lambda s: s.ami_id, limit, req.next_token
        )
    else:
        found, missing = [], []
        for ami_id in dict.fromkeys(req.image_ids):
            seen = vis.find(sim, ami_id, now)
            if seen is not None:
                found.append(seen)
            elif not vis.hidden(sim, ami_id):
                missing.append(ami_id)
        if missing:
            raise errors.ami_not_found(missing)
        shown = sorted((s for s in found if _wanted(s, req, sim.account)), key=lambda s: s.ami_id)
    return imagexml.describe_images(request_id, [_view(s, now) for s in shown], token)


def _owned(sim: state.SimState, ami_id: str, now: float) -> images.Image:
    """The caller's own registered AMI; the error EC2 gives for any other."""
    seen = vis.find(sim, ami_id, now)
    if seen is None:
        raise errors.ami_not_found([ami_id])
    if seen.state == "deregistered":
        raise errors.ami_unavailable(ami_id)
    if seen.owner != sim.account:
        raise errors.not_authorized_for_image(ami_id)
    return seen.image


def describe_image_attribute(sim: state.SimState, req: protocol.Ec2Request, request_id: str) -> str:
    """DescribeImageAttribute: launchPermission and deregistrationProtection, for the owner.

    ``blockDeviceMapping`` answers AuthFailure, as AWS documents; the attributes the
    simulator does not model answer InvalidParameterValue (our approximation).
    """
    ami_id = require(req.image_id, "ImageId")
    attribute = require(req.attribute, "Attribute")
    if attribute not in ATTRIBUTES:
        raise errors.Ec2Error(
            "InvalidParameterValue",
            f"Value ({attribute}) for parameter attribute is invalid. Unknown attribute.",
        )
    if not model.AMI_ID_RE.match(ami_id):
        raise errors.malformed_ami(ami_id)
    if req.dry_run:
        raise errors.dry_run_ok()
    now = sim.model.clock.now()
    image = _owned(sim, ami_id, now)
    if attribute == "launchPermission":
        return imagexml.launch_permissions(request_id, image)
    if attribute == "deregistrationProtection":
        return imagexml.attribute_value(request_id, ami_id, attribute, image.protection_at(now))
    if attribute == "blockDeviceMapping":
        raise errors.Ec2Error("AuthFailure", "Unauthorized attempt to access restricted resource")
    raise errors.Ec2Error(
        "InvalidParameterValue", f"The simulator does not model the attribute {attribute}"
    )


def deregister_image(sim: state.SimState, req: protocol.Ec2Request, request_id: str) -> str:
    """DeregisterImage: the owner's AMI, unless deregistration protection is on.

    AWS documents the protection but not the error of a refused deregistration:
    ``OperationNotPermitted`` (what EC2 answers for an instance's termination
    protection) and its wording are our approximation.
    """
    ami_id = require(req.image_id, "ImageId")
    if not model.AMI_ID_RE.match(ami_id):
        raise errors.malformed_ami(ami_id)
    if req.dry_run:
        raise errors.dry_run_ok()
    now = sim.model.clock.now()
    image = _owned(sim, ami_id, now)
    protection = image.protection_at(now)
    if protection != "disabled":
        raise errors.Ec2Error(
            "OperationNotPermitted",
            f"The image {ami_id} cannot be deregistered: its deregistration protection "
            f"is {protection}.",
        )
    sim.model.deregister([ami_id])
    sim.images.mark_deregistered([ami_id], now)
    results = sim.images.delete_snapshots(image) if req.delete_snapshots else None
    return imagexml.deregister(request_id, results)
