"""The two EC2 operations the operator calls, as a botocore service model.

botocore's full EC2 model (``ec2/2016-11-15/service-2.json``, hundreds of
operations) costs about 25 MiB of memory once a client loads it, a sixth of
the operator's footprint. The client is built from this subset instead: the
model's metadata, ``DescribeStoreImageTasks``, ``CreateStoreImageTask`` (export
mode) and the shapes they reach,
without documentation; byte for byte what botocore ships for them (a unit
test compares the two, so a botocore upgrade that changes them fails loudly).
"""

from __future__ import annotations

from typing import Any

SERVICE = "ec2"
API_VERSION = "2016-11-15"

MODEL: dict[str, Any] = {
    "version": "2.0",
    "metadata": {
        "apiVersion": "2016-11-15",
        "endpointPrefix": "ec2",
        "protocol": "ec2",
        "protocols": ["ec2"],
        "serviceAbbreviation": "Amazon EC2",
        "serviceFullName": "Amazon Elastic Compute Cloud",
        "serviceId": "EC2",
        "signatureVersion": "v4",
        "uid": "ec2-2016-11-15",
        "xmlNamespace": "http://ec2.amazonaws.com/doc/2016-11-15",
        "auth": ["aws.auth#sigv4"],
    },
    "operations": {
        "DescribeStoreImageTasks": {
            "name": "DescribeStoreImageTasks",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "DescribeStoreImageTasksRequest"},
            "output": {"shape": "DescribeStoreImageTasksResult"},
        },
        "CreateStoreImageTask": {
            "name": "CreateStoreImageTask",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "CreateStoreImageTaskRequest"},
            "output": {"shape": "CreateStoreImageTaskResult"},
        },
    },
    "shapes": {
        "DescribeStoreImageTasksRequest": {
            "type": "structure",
            "members": {
                "ImageIds": {"shape": "ImageIdList", "locationName": "ImageId"},
                "DryRun": {"shape": "Boolean"},
                "Filters": {"shape": "FilterList", "locationName": "Filter"},
                "NextToken": {"shape": "String"},
                "MaxResults": {"shape": "DescribeStoreImageTasksRequestMaxResults"},
            },
        },
        "ImageIdList": {"type": "list", "member": {"shape": "ImageId", "locationName": "item"}},
        "ImageId": {"type": "string"},
        "Boolean": {"type": "boolean"},
        "FilterList": {"type": "list", "member": {"shape": "Filter", "locationName": "Filter"}},
        "Filter": {
            "type": "structure",
            "members": {
                "Name": {"shape": "String"},
                "Values": {"shape": "ValueStringList", "locationName": "Value"},
            },
        },
        "String": {"type": "string"},
        "ValueStringList": {"type": "list", "member": {"shape": "String", "locationName": "item"}},
        "DescribeStoreImageTasksRequestMaxResults": {"type": "integer", "max": 200, "min": 1},
        "DescribeStoreImageTasksResult": {
            "type": "structure",
            "members": {
                "StoreImageTaskResults": {
                    "shape": "StoreImageTaskResultSet",
                    "locationName": "storeImageTaskResultSet",
                },
                "NextToken": {"shape": "String", "locationName": "nextToken"},
            },
        },
        "StoreImageTaskResultSet": {
            "type": "list",
            "member": {"shape": "StoreImageTaskResult", "locationName": "item"},
        },
        "StoreImageTaskResult": {
            "type": "structure",
            "members": {
                "AmiId": {"shape": "String", "locationName": "amiId"},
                "TaskStartTime": {"shape": "MillisecondDateTime", "locationName": "taskStartTime"},
                "Bucket": {"shape": "String", "locationName": "bucket"},
                "S3objectKey": {"shape": "String", "locationName": "s3objectKey"},
                "ProgressPercentage": {"shape": "Integer", "locationName": "progressPercentage"},
                "StoreTaskState": {"shape": "String", "locationName": "storeTaskState"},
                "StoreTaskFailureReason": {
                    "shape": "String",
                    "locationName": "storeTaskFailureReason",
                },
            },
        },
        "MillisecondDateTime": {"type": "timestamp"},
        "Integer": {"type": "integer"},
        "CreateStoreImageTaskRequest": {
            "type": "structure",
            "required": ["ImageId", "Bucket"],
            "members": {
                "ImageId": {"shape": "ImageId"},
                "Bucket": {"shape": "String"},
                "S3ObjectTags": {"shape": "S3ObjectTagList", "locationName": "S3ObjectTag"},
                "DryRun": {"shape": "Boolean"},
            },
        },
        "S3ObjectTagList": {
            "type": "list",
            "member": {"shape": "S3ObjectTag", "locationName": "item"},
        },
        "S3ObjectTag": {
            "type": "structure",
            "members": {"Key": {"shape": "String"}, "Value": {"shape": "String"}},
        },
        "CreateStoreImageTaskResult": {
            "type": "structure",
            "members": {"ObjectKey": {"shape": "String", "locationName": "objectKey"}},
        },
    },
}
