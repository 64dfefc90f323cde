"""What a SigV4 Authorization header says: the signing key and its credential scope.

Signatures are never verified (the simulator only checks that one is there), so
this only reads the scope ``AKID/DATE/REGION/SERVICE/aws4_request``.
"""

from __future__ import annotations

SIGV4_PREFIX = "AWS4-HMAC-SHA256 Credential="


def scope(authorization: str) -> list[str]:
    """The credential scope, split at its slashes (the access key ID first)."""
    return authorization.removeprefix(SIGV4_PREFIX).split(",", 1)[0].strip().split("/")


def region(authorization: str) -> str:
    """The region of a full credential scope ("" when the scope is not a full one)."""
    parts = scope(authorization)
    return parts[2] if len(parts) == 5 else ""


def service(authorization: str) -> str:
    """The service of a full credential scope (``ec2``, ``sts``, ``s3``; "" if none)."""
    parts = scope(authorization)
    return parts[3] if len(parts) == 5 else ""


def is_signed(authorization: str) -> bool:
    """Whether the header is a SigV4 one at all."""
    return authorization.startswith(SIGV4_PREFIX)
