"""The EC2 Query protocol: form parameters in, `ec2.amazonaws.com` XML out."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from tests.sandbox.ec2sim import errors, model

XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"
XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
CONTENT_TYPE = "text/xml"

_INDEXED = re.compile(r"^([A-Za-z0-9]+)\.(\d+)(?:\.(.+))?$")

ResourceTypeRequest = tuple[str, list[tuple[str, list[str]]]]
"""DescribeImageReferences' (ResourceType, [(OptionName, OptionValues), ...])."""
TagSpecification = tuple[str, list[tuple[str, str]]]
"""(ResourceType, [(Key, Value), ...])."""


@dataclasses.dataclass
class Ec2Request:
    """The parameters of one EC2 call, parsed from its Query form."""

    action: str
    image_ids: list[str] | None = None
    filters: list[tuple[str, list[str]]] = dataclasses.field(default_factory=list)
    max_results: str | None = None
    next_token: str | None = None
    dry_run: bool = False
    image_id: str | None = None
    bucket: str | None = None
    tags: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    region: str = ""  # the region of the request's SigV4 credential scope ("" if none)
    owners: list[str] | None = None  # Owner.N: DescribeImages' Owners, DescribeSnapshots' OwnerIds
    executable_by: list[str] | None = None
    snapshot_ids: list[str] | None = None
    attribute: str | None = None
    include_all_resource_types: bool = False
    resource_types: list[ResourceTypeRequest] | None = None
    delete_snapshots: bool = False
    object_key: str | None = None  # CreateRestoreImageTask's ObjectKey, Name, TagSpecifications
    name: str | None = None
    tag_specs: list[TagSpecification] = dataclasses.field(default_factory=list)

    def to_log(self) -> dict[str, object]:
        """The parameters as the call log keeps them (no credentials are ever here)."""
        out: dict[str, object] = {}
        if self.image_ids is not None:
            out["ImageIds"] = list(self.image_ids)
        if self.filters:
            out["Filters"] = [{"Name": n, "Values": list(v)} for n, v in self.filters]
        if self.max_results is not None:
            raw = self.max_results
            out["MaxResults"] = int(raw) if raw.lstrip("-").isdigit() else raw
        if self.next_token is not None:
            out["NextToken"] = self.next_token
        if self.dry_run:
            out["DryRun"] = True
        if self.image_id is not None:
            out["ImageId"] = self.image_id
        if self.bucket is not None:
            out["Bucket"] = self.bucket
        if self.tags:
            out["S3ObjectTags"] = [{"Key": k, "Value": v} for k, v in self.tags]
        out.update(self._image_params())
        return out

    def _image_params(self) -> dict[str, object]:
        """The logged parameters of the AMI and snapshot actions."""
        out: dict[str, object] = {}
        if self.owners is not None:
            out["OwnerIds" if self.action == "DescribeSnapshots" else "Owners"] = self.owners
        if self.executable_by is not None:
            out["ExecutableUsers"] = self.executable_by
        if self.snapshot_ids is not None:
            out["SnapshotIds"] = self.snapshot_ids
        if self.attribute is not None:
            out["Attribute"] = self.attribute
        if self.include_all_resource_types:
            out["IncludeAllResourceTypes"] = True
        if self.resource_types is not None:
            out["ResourceTypes"] = [
                {
                    "ResourceType": kind,
                    "ResourceTypeOptions": [
                        {"OptionName": n, "OptionValues": list(v)} for n, v in options
                    ],
                }
                for kind, options in self.resource_types
            ]
        if self.delete_snapshots:
            out["DeleteAssociatedSnapshots"] = True
        if self.object_key is not None:
            out["ObjectKey"] = self.object_key
        if self.name is not None:
            out["Name"] = self.name
        if self.tag_specs:
            out["TagSpecifications"] = [
                {"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags]}
                for kind, tags in self.tag_specs
            ]
        return out


def _indexed(form: Mapping[str, str], name: str) -> dict[int, dict[str, str]]:
    """`Name.N[.rest]` parameters grouped by N, each as {rest or "": value}."""
    groups: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = _INDEXED.match(key)
        if match and match.group(1) == name:
            groups.setdefault(int(match.group(2)), {})[match.group(3) or ""] = value
    return dict(sorted(groups.items()))


def parse(form: Mapping[str, str]) -> Ec2Request:
    """Parse a Query-protocol form (botocore's EC2 serializer's shape)."""
    req = Ec2Request(action=form.get("Action", ""))
    ids = _indexed(form, "ImageId")
    if ids:
        req.image_ids = [g[""] for g in ids.values() if "" in g]
    for group in _indexed(form, "Filter").values():
        values = [group[k] for k in sorted(group, key=_value_index) if k.startswith("Value.")]
        req.filters.append((group.get("Name", ""), values))
    for group in _indexed(form, "S3ObjectTag").values():
        req.tags.append((group.get("Key", ""), group.get("Value", "")))
    req.max_results = form.get("MaxResults")
    req.next_token = form.get("NextToken")
    req.dry_run = form.get("DryRun", "false").lower() == "true"
    req.image_id = form.get("ImageId")
    req.bucket = form.get("Bucket")
    _parse_image_params(req, form)
    return req


def _listed(form: Mapping[str, str], name: str) -> list[str] | None:
    """The values of ``Name.N`` parameters in N order; None when there are none."""
    groups = _indexed(form, name)
    return [g[""] for g in groups.values() if "" in g] if groups else None


def _parse_image_params(req: Ec2Request, form: Mapping[str, str]) -> None:
    """The parameters of the AMI and snapshot actions."""
    req.owners = _listed(form, "Owner")
    req.executable_by = _listed(form, "ExecutableBy")
    req.snapshot_ids = _listed(form, "SnapshotId")
    req.attribute = form.get("Attribute")
    req.include_all_resource_types = form.get("IncludeAllResourceTypes", "").lower() == "true"
    req.delete_snapshots = form.get("DeleteAssociatedSnapshots", "").lower() == "true"
    req.object_key = form.get("ObjectKey")
    req.name = form.get("Name")
    for spec in _indexed(form, "TagSpecification").values():
        tags = [(t.get("Key", ""), t.get("Value", "")) for t in _indexed(spec, "Tag").values()]
        req.tag_specs.append((spec.get("ResourceType", ""), tags))
    kinds = _indexed(form, "ResourceType")
    if kinds:
        req.resource_types = []
        for group in kinds.values():
            options = _indexed(group, "ResourceTypeOption")
            req.resource_types.append(
                (
                    group.get("ResourceType", ""),
                    [
                        (o.get("OptionName", ""), _listed(o, "OptionValue") or [])
                        for o in options.values()
                    ],
                )
            )


def _value_index(key: str) -> int:
    _, _, n = key.partition(".")
    return int(n) if n.isdigit() else 0


def timestamp(when: float) -> str:
    """EC2's timestamp form: ISO 8601 UTC with milliseconds."""
    dt = datetime.fromtimestamp(when, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def encode_token(key: model.IndexKey) -> str:
    """An opaque NextToken for continuing after `key`."""
    raw = f"v1|{-key[0]!r}|{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str) -> model.IndexKey:
    """The index key a NextToken continues after; InvalidPaginationToken if it is not ours."""
    try:
        version, start, ami_id = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        if version != "v1":
            raise ValueError(version)
        return (-float(start), ami_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise errors.Ec2Error(
            "InvalidPaginationToken",
            f"The pagination token '{token}' is not valid or is expired.",
        ) from exc


def _el(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def render_task(task: model.TaskView) -> str:
    """One `<item>` of storeImageTaskResultSet."""
    parts = [
        "<item>",
        _el("amiId", task.ami_id),
        _el("taskStartTime", timestamp(task.start_time)),
        _el("bucket", task.bucket),
        _el("s3objectKey", task.object_key),
        _el("progressPercentage", task.progress),
        _el("storeTaskState", task.state),
    ]
    if task.failure_reason is not None:
        parts.append(_el("storeTaskFailureReason", task.failure_reason))
    parts.append("</item>")
    return "".join(parts)


def render_describe(request_id: str, tasks: list[model.TaskView], next_token: str | None) -> str:
    """A DescribeStoreImageTasksResponse document."""
    items = "".join(render_task(t) for t in tasks)
    token = _el("nextToken", next_token) if next_token else ""
    return (
        f'{XML_DECL}<DescribeStoreImageTasksResponse xmlns="{XMLNS}">'
        f"{_el('requestId', request_id)}"
        f"<storeImageTaskResultSet>{items}</storeImageTaskResultSet>{token}"
        "</DescribeStoreImageTasksResponse>"
    )


def render_create(request_id: str, object_key: str) -> str:
    """A CreateStoreImageTaskResponse document."""
    return (
        f'{XML_DECL}<CreateStoreImageTaskResponse xmlns="{XMLNS}">'
        f"{_el('requestId', request_id)}{_el('objectKey', object_key)}"
        "</CreateStoreImageTaskResponse>"
    )


def render_error(request_id: str, error: errors.Ec2Error) -> str:
    """EC2's error document."""
    return (
        f"{XML_DECL}<Response><Errors><Error>{_el('Code', error.code)}"
        f"{_el('Message', error.message)}</Error></Errors>"
        f"{_el('RequestID', request_id)}</Response>"
    )
