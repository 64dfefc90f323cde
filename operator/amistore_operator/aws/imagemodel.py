"""The five EC2 operations of AMI cleanup, as a subset of botocore's service model.

DescribeImages, DescribeImageAttribute, DescribeImageReferences, DescribeSnapshots
and DeregisterImage, kept apart from ``ec2model`` (export's) for its reason: the full
EC2 model costs about 25 MiB, and cutting the subset out of it at run time leaves the
process as large (the allocator keeps what was freed). ``merged`` adds them to a model.

Operations and shapes are byte for byte botocore's (a unit test compares them), but
that a structure keeps only the members the client sends or reads: botocore's parser
skips the XML elements a shape does not name, so answers read the same, and the whole
closure (85 shapes) would not fit one module. A new field is one member to add back.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

SERVICE = "ec2"
API_VERSION = "2016-11-15"


def _operation(name: str, output: str) -> dict[str, Any]:
    return {
        "name": name,
        "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": f"{name}Request"},
        "output": {"shape": output},
    }


OPERATIONS: dict[str, Any] = {
    "DescribeImages": _operation("DescribeImages", "DescribeImagesResult"),
    "DescribeImageAttribute": _operation("DescribeImageAttribute", "ImageAttribute"),
    "DescribeImageReferences": _operation(
        "DescribeImageReferences", "DescribeImageReferencesResult"
    ),
    "DescribeSnapshots": _operation("DescribeSnapshots", "DescribeSnapshotsResult"),
    "DeregisterImage": _operation("DeregisterImage", "DeregisterImageResult"),
}
SHAPES: dict[str, Any] = {
    "DescribeImagesRequest": {
        "type": "structure",
        "members": {
            "ImageIds": {"shape": "ImageIdStringList", "locationName": "ImageId"},
            "IncludeDeprecated": {"shape": "Boolean"},
            "IncludeDisabled": {"shape": "Boolean"},
        },
    },
    "ImageIdStringList": {
        "type": "list",
        "member": {"shape": "ImageId", "locationName": "ImageId"},
    },
    "ImageId": {"type": "string"},
    "Boolean": {"type": "boolean"},
    "DescribeImagesResult": {
        "type": "structure",
        "members": {"Images": {"shape": "ImageList", "locationName": "imagesSet"}},
    },
    "ImageList": {"type": "list", "member": {"shape": "Image", "locationName": "item"}},
    "Image": {
        "type": "structure",
        "members": {
            "BlockDeviceMappings": {
                "shape": "BlockDeviceMappingList",
                "locationName": "blockDeviceMapping",
            },
            "Name": {"shape": "String", "locationName": "name"},
            "DeregistrationProtection": {
                "shape": "String",
                "locationName": "deregistrationProtection",
            },
            "ImageId": {"shape": "String", "locationName": "imageId"},
            "State": {"shape": "ImageState", "locationName": "imageState"},
            "OwnerId": {"shape": "String", "locationName": "imageOwnerId"},
            "Public": {"shape": "Boolean", "locationName": "isPublic"},
        },
    },
    "BlockDeviceMappingList": {
        "type": "list",
        "member": {"shape": "BlockDeviceMapping", "locationName": "item"},
    },
    "BlockDeviceMapping": {
        "type": "structure",
        "members": {"Ebs": {"shape": "EbsBlockDevice", "locationName": "ebs"}},
    },
    "EbsBlockDevice": {
        "type": "structure",
        "members": {"SnapshotId": {"shape": "SnapshotId", "locationName": "snapshotId"}},
    },
    "SnapshotId": {"type": "string"},
    "String": {"type": "string"},
    "ImageState": {
        "type": "string",
        "enum": [
            "pending",
            "available",
            "invalid",
            "deregistered",
            "transient",
            "failed",
            "error",
            "disabled",
        ],
    },
    "DescribeImageAttributeRequest": {
        "type": "structure",
        "required": ["Attribute", "ImageId"],
        "members": {"Attribute": {"shape": "ImageAttributeName"}, "ImageId": {"shape": "ImageId"}},
    },
    "ImageAttributeName": {
        "type": "string",
        "enum": [
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
        ],
    },
    "ImageAttribute": {
        "type": "structure",
        "members": {
            "LaunchPermissions": {
                "shape": "LaunchPermissionList",
                "locationName": "launchPermission",
            }
        },
    },
    "LaunchPermissionList": {
        "type": "list",
        "member": {"shape": "LaunchPermission", "locationName": "item"},
    },
    "LaunchPermission": {
        "type": "structure",
        "members": {
            "OrganizationArn": {"shape": "String", "locationName": "organizationArn"},
            "OrganizationalUnitArn": {"shape": "String", "locationName": "organizationalUnitArn"},
            "UserId": {"shape": "String", "locationName": "userId"},
            "Group": {"shape": "PermissionGroup", "locationName": "group"},
        },
    },
    "PermissionGroup": {"type": "string", "enum": ["all"]},
    "DescribeImageReferencesRequest": {
        "type": "structure",
        "required": ["ImageIds"],
        "members": {
            "ImageIds": {
                "shape": "DescribeImageReferencesImageIdStringList",
                "locationName": "ImageId",
            },
            "IncludeAllResourceTypes": {"shape": "Boolean"},
            "ResourceTypes": {"shape": "ResourceTypeRequestList", "locationName": "ResourceType"},
            "NextToken": {"shape": "String"},
        },
    },
    "DescribeImageReferencesImageIdStringList": {
        "type": "list",
        "member": {"shape": "ImageId"},
        "max": 10,
        "min": 1,
    },
    "ResourceTypeRequestList": {"type": "list", "member": {"shape": "ResourceTypeRequest"}},
    "ResourceTypeRequest": {
        "type": "structure",
        "members": {
            "ResourceType": {"shape": "ImageReferenceResourceType"},
            "ResourceTypeOptions": {
                "shape": "ResourceTypeOptionList",
                "locationName": "ResourceTypeOption",
            },
        },
    },
    "ImageReferenceResourceType": {
        "type": "string",
        "enum": [
            "ec2:Instance",
            "ec2:LaunchTemplate",
            "ssm:Parameter",
            "imagebuilder:ImageRecipe",
            "imagebuilder:ContainerRecipe",
        ],
    },
    "ResourceTypeOptionList": {"type": "list", "member": {"shape": "ResourceTypeOption"}},
    "ResourceTypeOption": {
        "type": "structure",
        "members": {
            "OptionName": {"shape": "ImageReferenceOptionName"},
            "OptionValues": {
                "shape": "ResourceTypeOptionValuesList",
                "locationName": "OptionValue",
            },
        },
    },
    "ImageReferenceOptionName": {"type": "string", "enum": ["state-name", "version-depth"]},
    "ResourceTypeOptionValuesList": {
        "type": "list",
        "member": {"shape": "ResourceTypeOptionValue"},
    },
    "ResourceTypeOptionValue": {"type": "string"},
    "DescribeImageReferencesResult": {
        "type": "structure",
        "members": {
            "NextToken": {"shape": "String", "locationName": "nextToken"},
            "ImageReferences": {"shape": "ImageReferenceList", "locationName": "imageReferenceSet"},
        },
    },
    "ImageReferenceList": {
        "type": "list",
        "member": {"shape": "ImageReference", "locationName": "item"},
    },
    "ImageReference": {
        "type": "structure",
        "members": {
            "ImageId": {"shape": "ImageId", "locationName": "imageId"},
            "ResourceType": {"shape": "ImageReferenceResourceType", "locationName": "resourceType"},
            "Arn": {"shape": "String", "locationName": "arn"},
        },
    },
    "DescribeSnapshotsRequest": {
        "type": "structure",
        "members": {"SnapshotIds": {"shape": "SnapshotIdStringList", "locationName": "SnapshotId"}},
    },
    "SnapshotIdStringList": {
        "type": "list",
        "member": {"shape": "SnapshotId", "locationName": "SnapshotId"},
    },
    "DescribeSnapshotsResult": {
        "type": "structure",
        "members": {"Snapshots": {"shape": "SnapshotList", "locationName": "snapshotSet"}},
    },
    "SnapshotList": {"type": "list", "member": {"shape": "Snapshot", "locationName": "item"}},
    "Snapshot": {
        "type": "structure",
        "members": {
            "SnapshotId": {"shape": "String", "locationName": "snapshotId"},
            "VolumeSize": {"shape": "Integer", "locationName": "volumeSize"},
        },
    },
    "Integer": {"type": "integer"},
    "DeregisterImageRequest": {
        "type": "structure",
        "required": ["ImageId"],
        "members": {
            "ImageId": {"shape": "ImageId"},
            "DeleteAssociatedSnapshots": {"shape": "Boolean"},
        },
    },
    "DeregisterImageResult": {
        "type": "structure",
        "members": {
            "Return": {"shape": "Boolean", "locationName": "return"},
            "DeleteSnapshotResults": {
                "shape": "DeleteSnapshotResultSet",
                "locationName": "deleteSnapshotResultSet",
            },
        },
    },
    "DeleteSnapshotResultSet": {
        "type": "list",
        "member": {"shape": "DeleteSnapshotReturnCode", "locationName": "item"},
    },
    "DeleteSnapshotReturnCode": {
        "type": "structure",
        "members": {
            "SnapshotId": {"shape": "SnapshotId", "locationName": "snapshotId"},
            "ReturnCode": {"shape": "SnapshotReturnCodes", "locationName": "returnCode"},
        },
    },
    "SnapshotReturnCodes": {
        "type": "string",
        "enum": ["success", "skipped", "missing-permissions", "internal-error", "client-error"],
    },
}


def merged(model: Mapping[str, Any]) -> dict[str, Any]:
    """``model`` (EC2's) with these operations and shapes, unless it has them all already.

    A new dict; ``model`` (perhaps a loader's cached one) is left as it was, and this
    module's part is copied, as ``ec2``'s loader copies ``ec2model`` for each client.
    """
    if set(OPERATIONS) <= set(model["operations"]):
        return dict(model)
    return {
        **model,
        "operations": {**model["operations"], **copy.deepcopy(OPERATIONS)},
        "shapes": {**model["shapes"], **copy.deepcopy(SHAPES)},
    }
