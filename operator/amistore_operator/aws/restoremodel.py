"""CreateRestoreImageTask and what restore reads, as a subset of botocore's EC2 model.

Kept apart from ``ec2model`` (export's) and ``imagemodel`` (cleanup's) for their
reason: the full EC2 model costs about 25 MiB. ``merged`` adds the operation and its
shapes to a model, and overlays on cleanup's shapes the members restore reads:
DescribeImages' ``Owners`` and ``Filters``, an image's ``StateReason`` and ``Tags``,
a snapshot's ``Progress`` and ``State``.

Operations and shapes are byte for byte botocore's (a unit test compares them), but
that a structure keeps only the members the client sends or reads, as in
``imagemodel``. ``ResourceType`` is botocore's whole enum: botocore validates a
TagSpecification's type against it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

SERVICE = "ec2"
API_VERSION = "2016-11-15"

OPERATIONS: dict[str, Any] = {
    "CreateRestoreImageTask": {
        "name": "CreateRestoreImageTask",
        "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": "CreateRestoreImageTaskRequest"},
        "output": {"shape": "CreateRestoreImageTaskResult"},
    }
}
# 114 names: a list literal, one a line as formatted, would not fit the module.
_RESOURCE_TYPES = (  # noqa: SIM905
    "capacity-reservation client-vpn-endpoint customer-gateway carrier-gateway coip-pool "
    "declarative-policies-report dedicated-host dhcp-options egress-only-internet-gateway "
    "elastic-ip elastic-gpu export-image-task export-instance-task fca-policy fleet "
    "fpga-image host-reservation image image-usage-report import-image-task "
    "import-snapshot-task instance instance-event-window internet-gateway ipam ipam-pool "
    "ipam-scope ipv4pool-ec2 ipv6pool-ec2 key-pair launch-template local-gateway "
    "local-gateway-route-table local-gateway-virtual-interface "
    "local-gateway-virtual-interface-group local-gateway-route-table-vpc-association "
    "local-gateway-route-table-virtual-interface-group-association natgateway network-acl "
    "network-interface network-insights-analysis network-insights-path "
    "network-insights-access-scope network-insights-access-scope-analysis outpost-lag "
    "placement-group prefix-list replace-root-volume-task reserved-instances route-table "
    "security-group security-group-rule service-link-virtual-interface snapshot "
    "spot-fleet-request spot-instances-request subnet subnet-cidr-reservation "
    "traffic-mirror-filter traffic-mirror-session traffic-mirror-target transit-gateway "
    "transit-gateway-attachment transit-gateway-connect-peer "
    "transit-gateway-multicast-domain transit-gateway-policy-table "
    "transit-gateway-metering-policy transit-gateway-route-table "
    "transit-gateway-route-table-announcement volume vpc vpc-endpoint "
    "vpc-endpoint-connection vpc-endpoint-service vpc-endpoint-service-permission "
    "vpc-peering-connection vpn-connection vpn-gateway vpc-flow-log "
    "capacity-reservation-fleet traffic-mirror-filter-rule "
    "vpc-endpoint-connection-device-type verified-access-instance verified-access-group "
    "verified-access-endpoint verified-access-policy verified-access-trust-provider "
    "vpn-connection-device-type vpc-block-public-access-exclusion vpc-encryption-control "
    "route-server route-server-endpoint route-server-peer ipam-resource-discovery "
    "ipam-resource-discovery-association instance-connect-endpoint "
    "verified-access-endpoint-target ipam-external-resource-verification-token "
    "capacity-block mac-modification-task ipam-prefix-list-resolver ipam-policy "
    "ipam-prefix-list-resolver-target ipam-internet-registry-association "
    "secondary-interface secondary-network secondary-subnet capacity-manager-data-export "
    "vpn-concentrator ipam-pool-allocation capacity-reservation-cancellation-quote "
    "application-status-check capacity-reservation-modification-quote metric-category"
).split()
SHAPES: dict[str, Any] = {
    "CreateRestoreImageTaskRequest": {
        "type": "structure",
        "required": ["Bucket", "ObjectKey"],
        "members": {
            "Bucket": {"shape": "String"},
            "ObjectKey": {"shape": "String"},
            "Name": {"shape": "ImageNameRequest"},
            "TagSpecifications": {
                "shape": "TagSpecificationList",
                "locationName": "TagSpecification",
            },
            "DryRun": {"shape": "Boolean"},
        },
    },
    "String": {"type": "string"},
    "Boolean": {"type": "boolean"},
    "ImageNameRequest": {"type": "string", "max": 128, "min": 3},
    "TagSpecificationList": {
        "type": "list",
        "member": {"shape": "TagSpecification", "locationName": "item"},
    },
    "TagSpecification": {
        "type": "structure",
        "members": {
            "ResourceType": {"shape": "ResourceType", "locationName": "resourceType"},
            "Tags": {"shape": "TagList", "locationName": "Tag"},
        },
    },
    "ResourceType": {"type": "string", "enum": _RESOURCE_TYPES},
    "TagList": {"type": "list", "member": {"shape": "Tag", "locationName": "item"}},
    "Tag": {
        "type": "structure",
        "members": {
            "Key": {"shape": "String", "locationName": "key"},
            "Value": {"shape": "String", "locationName": "value"},
        },
    },
    "CreateRestoreImageTaskResult": {
        "type": "structure",
        "members": {"ImageId": {"shape": "String", "locationName": "imageId"}},
    },
    # What the members below reach.
    "OwnerStringList": {"type": "list", "member": {"shape": "String", "locationName": "Owner"}},
    "FilterList": {"type": "list", "member": {"shape": "Filter", "locationName": "Filter"}},
    "Filter": {
        "type": "structure",
        "members": {
            "Name": {"shape": "String"},
            "Values": {"shape": "ValueStringList", "locationName": "Value"},
        },
    },
    "ValueStringList": {"type": "list", "member": {"shape": "String", "locationName": "item"}},
    "StateReason": {
        "type": "structure",
        "members": {
            "Code": {"shape": "String", "locationName": "code"},
            "Message": {"shape": "String", "locationName": "message"},
        },
    },
    "SnapshotState": {
        "type": "string",
        "enum": ["pending", "completed", "error", "recoverable", "recovering"],
    },
}
# Members restore reads of structures ``imagemodel`` defines with fewer.
MEMBERS: dict[str, dict[str, Any]] = {
    "DescribeImagesRequest": {
        "Owners": {"shape": "OwnerStringList", "locationName": "Owner"},
        "Filters": {"shape": "FilterList", "locationName": "Filter"},
    },
    "Image": {
        "StateReason": {"shape": "StateReason", "locationName": "stateReason"},
        "Tags": {"shape": "TagList", "locationName": "tagSet"},
    },
    "Snapshot": {
        "Progress": {"shape": "String", "locationName": "progress"},
        "State": {"shape": "SnapshotState", "locationName": "status"},
    },
}


def merged(model: Mapping[str, Any]) -> dict[str, Any]:
    """``model`` (EC2's, with ``imagemodel``'s) with this operation, its shapes and the
    extra members, unless it has the operation already.

    A new dict; ``model`` and the shapes in it are left as they were.
    """
    if set(OPERATIONS) <= set(model["operations"]):
        return dict(model)
    shapes = {**model["shapes"], **copy.deepcopy(SHAPES)}
    for name, members in MEMBERS.items():
        shape = shapes[name]
        shapes[name] = {**shape, "members": {**shape["members"], **copy.deepcopy(members)}}
    return {
        **model,
        "operations": {**model["operations"], **copy.deepcopy(OPERATIONS)},
        "shapes": shapes,
    }
