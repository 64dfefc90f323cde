"""A loopback EC2 endpoint for AMI store tasks and the AMIs and snapshots around them.

EC2: DescribeStoreImageTasks, CreateStoreImageTask, DescribeImages,
DescribeImageAttribute, DescribeImageReferences, DescribeSnapshots and
DeregisterImage; STS: AssumeRole and GetCallerIdentity. Real boto3 reaches it
through `AWS_ENDPOINT_URL_EC2` (and `_STS`); tests script AMIs, store tasks,
references, the clock, throttling and faults through the JSON control API under
`/_sim/` (see `control.Ec2SimControl`).
"""
