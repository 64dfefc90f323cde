"""EC2 API errors as the simulator answers them: code, message and HTTP status."""

from __future__ import annotations

import base64
import hashlib

# HTTP status EC2 uses for each error code the simulator can produce.
STATUS_BY_CODE: dict[str, int] = {
    "AuthFailure": 401,
    "DryRunOperation": 412,
    "ExpiredToken": 400,
    "IncorrectState": 400,
    "InternalError": 500,
    "InvalidAMIID.Malformed": 400,
    "InvalidAMIID.NotFound": 400,
    "InvalidAMIID.Unavailable": 400,
    "InvalidAction": 400,
    "InvalidPaginationToken": 400,
    "InvalidParameterCombination": 400,
    "InvalidParameterValue": 400,
    "InvalidSnapshot.NotFound": 400,
    "InvalidSnapshotID.Malformed": 400,
    "MissingParameter": 400,
    "OperationNotPermitted": 400,
    "RequestExpired": 400,
    "RequestLimitExceeded": 503,
    "ResourceLimitExceeded": 400,
    "UnauthorizedOperation": 403,
    "Unavailable": 503,
}

# AWS's wording for the errors a fault injection produces.
DEFAULT_MESSAGES: dict[str, str] = {
    "AuthFailure": "AWS was not able to validate the provided access credentials",
    "InternalError": "An internal error has occurred",
    "RequestExpired": "Request has expired.",
    "RequestLimitExceeded": "Request limit exceeded.",
    "Unavailable": "The server is overloaded and can't handle the request.",
}


class Ec2Error(Exception):
    """An error the EC2 endpoint answers with `<Response><Errors>` XML."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 400)


def unauthorized_message(action: str) -> str:
    """An UnauthorizedOperation message with an opaque encoded part, as AWS writes it."""
    digest = hashlib.sha256(action.encode()).digest() * 4
    encoded = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return (
        "You are not authorized to perform this operation. "
        f"Encoded authorization failure message: {encoded}"
    )


def for_code(code: str, action: str, message: str | None = None) -> Ec2Error:
    """The error for an injected fault code, with AWS's default message unless one is given."""
    if message is None:
        if code == "UnauthorizedOperation":
            message = unauthorized_message(action)
        else:
            message = DEFAULT_MESSAGES.get(code, code)
    return Ec2Error(code, message)


def dry_run_ok() -> Ec2Error:
    """The answer to an allowed DryRun call."""
    return Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")


def malformed_ami(ami_id: str) -> Ec2Error:
    """InvalidAMIID.Malformed for one bad ID."""
    return Ec2Error("InvalidAMIID.Malformed", f'Invalid id: "{ami_id}" (expecting "ami-...")')


def ami_not_found(ami_ids: list[str]) -> Ec2Error:
    """InvalidAMIID.NotFound naming every missing ID, worded like AWS."""
    joined = ", ".join(ami_ids)
    if len(ami_ids) == 1:
        return Ec2Error("InvalidAMIID.NotFound", f"The image id '[{joined}]' does not exist")
    return Ec2Error("InvalidAMIID.NotFound", f"The image ids '[{joined}]' do not exist")


def ami_unavailable(ami_id: str) -> Ec2Error:
    """InvalidAMIID.Unavailable: an AMI deregistered so recently that EC2 still lists it."""
    return Ec2Error(
        "InvalidAMIID.Unavailable",
        f"The image ID '{ami_id}' is no longer available: it has been deregistered",
    )


def not_authorized_for_image(ami_id: str) -> Ec2Error:
    """AuthFailure for an AMI the caller may see but does not own, worded as AWS does."""
    return Ec2Error("AuthFailure", f"Not authorized for image:{ami_id}")


def malformed_snapshot(snapshot_id: str) -> Ec2Error:
    """InvalidSnapshotID.Malformed for one bad ID."""
    return Ec2Error(
        "InvalidSnapshotID.Malformed", f'Invalid id: "{snapshot_id}" (expecting "snap-...")'
    )


def snapshots_not_found(snapshot_ids: list[str]) -> Ec2Error:
    """InvalidSnapshot.NotFound naming every missing ID."""
    if len(snapshot_ids) == 1:
        return Ec2Error(
            "InvalidSnapshot.NotFound", f"The snapshot '{snapshot_ids[0]}' does not exist."
        )
    joined = ",".join(snapshot_ids)
    return Ec2Error("InvalidSnapshot.NotFound", f"The snapshots '{joined}' do not exist.")
