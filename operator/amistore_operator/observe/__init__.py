"""What the operator shows about itself: Prometheus metrics and the HTTP endpoint that serves them.

It imports ``core`` only; no kopf, no boto3.
"""
