"""The XML of the AMI and snapshot actions, in EC2's 2016-11-15 shapes.

Element names are the ``locationName``s of botocore's EC2 model (``imagesSet``,
``blockDeviceMapping``, ``deleteSnapshotResultSet``...), so real boto3 parses them.
"""

from __future__ import annotations

import dataclasses
from xml.sax.saxutils import escape

from tests.sandbox.ec2sim import images, protocol, references


@dataclasses.dataclass(frozen=True)
class ImageView:
    """One AMI as DescribeImages shows it to a caller at an instant."""

    image: images.Image
    owner: str
    state: str
    protection: str


def _el(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def _document(action: str, request_id: str, body: str) -> str:
    return (
        f'{protocol.XML_DECL}<{action}Response xmlns="{protocol.XMLNS}">'
        f"{_el('requestId', request_id)}{body}</{action}Response>"
    )


def _token(next_token: str | None) -> str:
    return _el("nextToken", next_token) if next_token else ""


def _tags(tags: list[tuple[str, str]]) -> str:
    if not tags:
        return ""
    items = "".join(f"<item>{_el('key', k)}{_el('value', v)}</item>" for k, v in tags)
    return f"<tagSet>{items}</tagSet>"


def _device(device: images.BlockDevice) -> str:
    ebs = (
        f"{_el('snapshotId', device.snapshot_id)}{_el('volumeSize', device.size_gib)}"
        f"{_el('deleteOnTermination', True)}{_el('volumeType', 'gp3')}{_el('encrypted', False)}"
    )
    return f"<item>{_el('deviceName', device.device_name)}<ebs>{ebs}</ebs></item>"


def _image(view: ImageView) -> str:
    image = view.image
    devices = "".join(_device(d) for d in image.devices)
    reason = ""
    if view.state == "failed" and image.restored is not None and image.restored.reason:
        code, message = image.restored.reason
        reason = f"<stateReason>{_el('code', code)}{_el('message', message)}</stateReason>"
    return (
        "<item>"
        f"{_el('imageId', image.ami_id)}{_el('imageLocation', f'{view.owner}/{image.name}')}"
        f"{_el('imageState', view.state)}{reason}{_el('imageOwnerId', view.owner)}"
        f"{_el('creationDate', protocol.timestamp(image.creation_time))}"
        f"{_el('isPublic', image.public)}{_el('architecture', 'x86_64')}"
        f"{_el('imageType', 'machine')}{_el('name', image.name)}"
        f"{_el('rootDeviceType', 'ebs')}{_el('rootDeviceName', images.DEVICE_NAMES[0])}"
        f"<blockDeviceMapping>{devices}</blockDeviceMapping>"
        f"{_el('virtualizationType', 'hvm')}{_el('hypervisor', 'xen')}"
        f"{_el('deregistrationProtection', view.protection)}{_tags(image.tags)}"
        "</item>"
    )


def describe_images(request_id: str, shown: list[ImageView], next_token: str | None) -> str:
    """A DescribeImagesResponse."""
    items = "".join(_image(v) for v in shown)
    return _document(
        "DescribeImages", request_id, f"<imagesSet>{items}</imagesSet>{_token(next_token)}"
    )


def launch_permissions(request_id: str, image: images.Image) -> str:
    """A DescribeImageAttributeResponse with the launchPermission attribute."""
    items = ["<item>" + _el("group", "all") + "</item>"] if image.public else []
    items += [f"<item>{_el('userId', u)}</item>" for u in image.user_ids]
    items += [f"<item>{_el('organizationArn', a)}</item>" for a in image.organization_arns]
    items += [
        f"<item>{_el('organizationalUnitArn', a)}</item>" for a in image.organizational_unit_arns
    ]
    body = f"{_el('imageId', image.ami_id)}<launchPermission>{''.join(items)}</launchPermission>"
    return _document("DescribeImageAttribute", request_id, body)


def attribute_value(request_id: str, ami_id: str, name: str, value: str) -> str:
    """A DescribeImageAttributeResponse with one ``<name><value>`` attribute."""
    body = f"{_el('imageId', ami_id)}<{name}>{_el('value', value)}</{name}>"
    return _document("DescribeImageAttribute", request_id, body)


def _snapshot(snapshot: images.Snapshot, owner: str, now: float) -> str:
    status, progress = snapshot.status_at(now)
    return (
        "<item>"
        f"{_el('snapshotId', snapshot.snapshot_id)}{_el('volumeId', 'vol-ffffffff')}"
        f"{_el('status', status)}{_el('startTime', protocol.timestamp(snapshot.start_time))}"
        f"{_el('progress', f'{progress}%')}{_el('ownerId', owner)}"
        f"{_el('volumeSize', snapshot.size_gib)}{_el('encrypted', False)}"
        f"{_el('storageTier', 'standard')}{_tags(snapshot.tags)}"
        "</item>"
    )


def describe_snapshots(
    request_id: str, shown: list[images.Snapshot], owner: str, next_token: str | None, now: float
) -> str:
    """A DescribeSnapshotsResponse, each snapshot's State and Progress as at ``now``."""
    items = "".join(_snapshot(s, owner, now) for s in shown)
    body = f"<snapshotSet>{items}</snapshotSet>{_token(next_token)}"
    return _document("DescribeSnapshots", request_id, body)


def deregister(request_id: str, results: list[tuple[str, str]] | None) -> str:
    """A DeregisterImageResponse; ``results`` when DeleteAssociatedSnapshots was asked."""
    body = _el("return", True)
    if results is not None:
        items = "".join(
            f"<item>{_el('snapshotId', s)}{_el('returnCode', code)}</item>" for s, code in results
        )
        body += f"<deleteSnapshotResultSet>{items}</deleteSnapshotResultSet>"
    return _document("DeregisterImage", request_id, body)


def image_references(request_id: str, found: list[references.Found], next_token: str | None) -> str:
    """A DescribeImageReferencesResponse."""
    items = "".join(
        f"<item>{_el('imageId', f.ami_id)}{_el('resourceType', f.resource_type)}"
        f"{_el('arn', f.arn)}</item>"
        for f in found
    )
    body = f"<imageReferenceSet>{items}</imageReferenceSet>{_token(next_token)}"
    return _document("DescribeImageReferences", request_id, body)


def restore_image_task(request_id: str, ami_id: str) -> str:
    """A CreateRestoreImageTaskResponse: the new AMI's ID and nothing else."""
    return _document("CreateRestoreImageTask", request_id, _el("imageId", ami_id))
