"""``kubectl amistore restore``'s request: the AmiRestore to create, from a URL and flags.

Pure. The values are checked here against the AmiRestore's rules (those of issue #22's
contract), so a typo is one clear line before any request, whatever CRD the cluster has.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from amistore_operator.plugin import errors, kinds

BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
KEY = r"ami-[0-9a-f]{8,17}\.bin"
AMI_NAME = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
ACCOUNT = re.compile(r"[0-9]{12}")
RESOURCE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
TIERS = ("Standard", "Bulk", "Expedited")
MAX_THAW_DAYS = 30000
EXAMPLE = "s3://BUCKET/ami-0123456789abcdef0.bin"


@dataclasses.dataclass(frozen=True)
class Request:
    """What the user asked for (None: not given)."""

    url: str
    namespace: str
    ami_name: str | None = None
    resource_name: str | None = None
    region: str | None = None
    account: str | None = None
    thaw_days: int | None = None
    thaw_tier: str | None = None


def parse_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET/ami-….bin`` as (bucket, key); anything else is an error."""
    match = re.fullmatch(r"s3://([^/]+)/(.+)", url)
    if match is None:
        raise errors.PluginError(f"{url!r} is not an S3 URL such as {EXAMPLE}")
    bucket, key = match.groups()
    if not re.fullmatch(BUCKET, bucket):
        raise errors.PluginError(f"{bucket!r} is not an S3 bucket name (in {url!r})")
    if not re.fullmatch(KEY, key):
        raise errors.PluginError(
            f"{key!r} is not the key of a store task's object, ami-….bin (as in {EXAMPLE})"
        )
    return bucket, key


def default_name(key: str) -> str:
    """``restore-ami-0123456789abcdef0`` for ``ami-0123456789abcdef0.bin``."""
    return f"restore-{key.removesuffix('.bin')}"


def _check(request: Request) -> None:
    checks = (
        (
            request.ami_name,
            AMI_NAME,
            "--ami-name",
            "3 to 128 letters, digits, spaces, ( ) [ ] . / - ' @ _",
        ),
        (request.region, REGION, "--region", "a region such as eu-west-1"),
        (request.account, ACCOUNT, "--account", "12 digits"),
        (request.resource_name, RESOURCE_NAME, "--resource-name", "a Kubernetes name"),
    )
    for value, pattern, flag, rule in checks:
        if value is not None and not pattern.fullmatch(value):
            raise errors.PluginError(f"{flag} {value!r} is not valid: {rule}")
    if request.resource_name is not None and len(request.resource_name) > 253:
        raise errors.PluginError("--resource-name is longer than 253 characters")
    if request.thaw_tier is not None and request.thaw_days is None:
        raise errors.PluginError("--thaw-tier needs --thaw-days (how long the thawed copy stays)")
    days = request.thaw_days
    if days is not None and not 1 <= days <= MAX_THAW_DAYS:
        raise errors.PluginError(f"--thaw-days must be 1 to {MAX_THAW_DAYS}, got {days}")
    if request.thaw_tier is not None and request.thaw_tier not in TIERS:
        raise errors.PluginError(f"--thaw-tier must be one of {', '.join(TIERS)}")


def body(request: Request) -> dict[str, Any]:
    """The AmiRestore to create; only the fields given, so the operator's defaults apply."""
    bucket, key = parse_url(request.url)
    _check(request)
    spec: dict[str, Any] = {"bucket": bucket, "objectKey": key}
    optional = (
        ("name", request.ami_name),
        ("region", request.region),
        ("account", request.account),
    )
    spec.update({field: value for field, value in optional if value is not None})
    if request.thaw_days is not None:
        spec["thaw"] = {"days": request.thaw_days}
        if request.thaw_tier is not None:
            spec["thaw"]["tier"] = request.thaw_tier
    return {
        "apiVersion": f"{kinds.GROUP}/{kinds.VERSION}",
        "kind": kinds.AMIRESTORE.kind,
        "metadata": {
            "name": request.resource_name or default_name(key),
            "namespace": request.namespace,
        },
        "spec": spec,
    }
