"""The shared, batched, budgeted poller: one per (account, region), the only EC2 caller.

The cache of tasks and subscriptions (``cache``, its entries in ``entries``), the plan of
each refresh cycle (``plan``, pure), the calls that carry it out (``calls``), what their
answers settle (``settle``), the cycle that ties them (``refresh``), the region's loop
(``poller``), all of them (``hub``) and the injected clock. It imports ``core`` and ``aws``'s
token bucket, never boto3 (the EC2 client is injected) nor kopf.
"""
