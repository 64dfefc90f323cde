"""A loopback EC2 endpoint for DescribeStoreImageTasks and CreateStoreImageTask.

Real boto3 reaches it through `AWS_ENDPOINT_URL_EC2`; tests script AMIs, store
tasks, the clock, throttling and faults through the JSON control API under
`/_sim/` (see `control.Ec2SimControl`).
"""
