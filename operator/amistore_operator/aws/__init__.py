"""Everything that talks to AWS: the only subpackage that imports boto3 and botocore.

The EC2 client factory, retries and error mapping (``client``), the one-operation EC2 model, the
token bucket and the per-attempt budget, the credentials of each account (``credentials``:
the operator's own identity, or an assumed role's session; ``rolecredentials``: the role's
credentials botocore refreshes), and the daemon threads blocking calls run in. It imports only
``core``.
"""
