"""DescribeImageReferences: the caller's resources naming the AMIs, validated as EC2 does.

From EC2's API reference: 1 to 10 ImageIds; IncludeAllResourceTypes or
ResourceTypes is required; ResourceTypeOptions only for ``ec2:Instance``
(``state-name``, every state by default) and ``ec2:LaunchTemplate``
(``version-depth``, 1 to 10000, 10 by default), a type's options overriding
IncludeAllResourceTypes' defaults. What AWS does not publish, and is ours: an
AMI the caller cannot see fails the call with InvalidAMIID.NotFound, as
DescribeImages does; the wording of the errors; MaxResults 5 to 1000, every
reference on one page without it; ARNs in the region of the call's signature
(us-east-1 when it names none).
"""

from __future__ import annotations

from tests.sandbox.ec2sim import errors, imagexml, model, paging, protocol, references, state
from tests.sandbox.ec2sim import visibility as vis

MAX_IMAGE_IDS = 10
DEFAULT_REGION = "us-east-1"
OPTIONS = {references.INSTANCE: "state-name", references.LAUNCH_TEMPLATE: "version-depth"}


def _invalid(message: str) -> errors.Ec2Error:
    return errors.Ec2Error("InvalidParameterValue", message)


def _option(kind: str, name: str, values: list[str]) -> list[str]:
    """One ResourceTypeOption's values, checked."""
    if OPTIONS.get(kind) != name:
        raise _invalid(f"The option '{name}' is not valid for the resource type {kind}.")
    if name == "state-name":
        bad = [v for v in values if v not in references.INSTANCE_STATES]
        if bad or not values:
            raise _invalid(
                f"Value ({', '.join(bad)}) for option state-name is invalid. Expecting "
                f"{' | '.join(references.INSTANCE_STATES)}."
            )
        return values
    low, high = references.VERSION_DEPTH_RANGE
    if len(values) != 1 or not values[0].isdigit() or not low <= int(values[0]) <= high:
        raise _invalid(
            f"Value ({', '.join(values)}) for option version-depth is invalid. "
            f"Expecting one integer between {low} and {high}."
        )
    return values


def resource_types(req: protocol.Ec2Request) -> dict[str, dict[str, list[str]]]:
    """The resource types to search and each one's options, in EC2's order of types."""
    if not req.include_all_resource_types and not req.resource_types:
        raise errors.Ec2Error(
            "MissingParameter",
            "Either IncludeAllResourceTypes or ResourceTypes must be specified.",
        )
    asked: dict[str, dict[str, list[str]]] = {}
    if req.include_all_resource_types:
        asked = {kind: {} for kind in references.RESOURCE_TYPES}
    for kind, options in req.resource_types or ():
        if kind not in references.RESOURCE_TYPES:
            raise _invalid(
                f"Value ({kind}) for parameter resourceType is invalid. Expecting "
                f"{' | '.join(references.RESOURCE_TYPES)}."
            )
        asked[kind] = {name: _option(kind, name, values) for name, values in options}
    return {kind: asked[kind] for kind in references.RESOURCE_TYPES if kind in asked}


def describe_image_references(
    sim: state.SimState, req: protocol.Ec2Request, request_id: str
) -> str:
    """DescribeImageReferences: by AMI as asked, then by resource type, paginated."""
    ids = req.image_ids
    if not ids:
        raise errors.Ec2Error("MissingParameter", "The request must contain the parameter ImageId")
    if len(ids) > MAX_IMAGE_IDS:
        raise _invalid(
            f"Value ({len(ids)}) for parameter ImageIds is invalid. "
            f"Up to {MAX_IMAGE_IDS} AMI IDs can be included in a request."
        )
    limit = paging.max_results(req.max_results)
    types = resource_types(req)
    for ami_id in ids:
        if not model.AMI_ID_RE.match(ami_id):
            raise errors.malformed_ami(ami_id)
    if req.dry_run:
        raise errors.dry_run_ok()
    now = sim.model.clock.now()
    unique = list(dict.fromkeys(ids))
    missing = [a for a in unique if vis.find(sim, a, now) is None]
    if missing:
        raise errors.ami_not_found(missing)
    found = sim.references.find(unique, types, sim.account, req.region or DEFAULT_REGION)
    numbered = list(enumerate(found))
    shown, token = paging.page(
        "DescribeImageReferences", numbered, lambda n: f"{n[0]:09d}", limit, req.next_token
    )
    return imagexml.image_references(request_id, [f for _, f in shown], token)
