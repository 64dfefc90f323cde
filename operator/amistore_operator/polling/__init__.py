"""The shared, batched, budgeted poller: one per region, the only caller of DescribeStoreImageTasks.

The cache of tasks and subscriptions, the plan of each refresh cycle, the cycle that runs it,
and the injected clock. It imports ``core`` and ``aws``'s token bucket, never boto3 (the EC2
client is injected) nor kopf.
"""
