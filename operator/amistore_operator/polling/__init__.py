"""The shared, batched, budgeted poller: one per region, the only caller of DescribeStoreImageTasks.

The cache of tasks and subscriptions (``cache``), the plan of each refresh cycle (``plan``,
pure), the calls that carry it out (``calls``), what their answers settle (``settle``), the
cycle that ties them (``refresh``), the region's loop (``poller``), all regions (``hub``) and
the injected clock. It imports ``core`` and ``aws``'s token bucket, never boto3 (the EC2
client is injected) nor kopf.
"""
