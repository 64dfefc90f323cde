"""A loopback EC2 endpoint for AMI store tasks and the AMIs, snapshots and S3 objects around them.

EC2: DescribeStoreImageTasks, CreateStoreImageTask, DescribeImages,
DescribeImageAttribute, DescribeImageReferences, DescribeSnapshots,
DeregisterImage and CreateRestoreImageTask; STS: AssumeRole and
GetCallerIdentity; S3: HeadObject and RestoreObject.
Real boto3 reaches it through `AWS_ENDPOINT_URL_EC2` (and `_STS`, `_S3`); tests
script AMIs, store tasks, references, objects, restores, the clock, throttling and faults
through the JSON control API under `/_sim/` (see `control.Ec2SimControl`).
"""
