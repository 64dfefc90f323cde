"""The pure core: AWS's tasks, the previous status and ``now`` in; the new status out.

The status, its events and the samples the metrics render are computed here. No IO, no clock, no
kopf, boto3 or prometheus_client here; it imports nothing of ours but ``core``.
"""
