"""The limit on store work in progress per account, as the EC2 User Guide describes it.

"How AMI store and restore works" (Store and restore an AMI using S3): the sizes
of all AMIs being stored are limited to 1,200 GB of EBS snapshot data per
account; further creates are rejected until the work in progress is below the
limit (200 GB + 400 GB in progress: another is accepted; a single 1,200 GB AMI
in progress: the next is rejected). Here a create is refused when the GB in
progress plus this AMI's would exceed the limit, unless nothing is in progress
(an AMI larger than the limit alone is accepted, as in AWS's second example).

AWS does not publish the error of that rejection: ``ResourceLimitExceeded``
(HTTP 400), which EC2 answers for its other in-progress limits (ImportImage,
snapshot copies), and its wording are our approximation.
"""

from __future__ import annotations

from tests.sandbox.ec2sim import errors, model


def in_progress_gb(sim: model.SimModel, now: float) -> float:
    """GB of snapshot data in the account's tasks in progress at `now`, hidden ones included."""
    return sum(
        sim.size_gb(task.ami_id)
        for task in sim.tasks.values()
        if model.view(task, now).state == "InProgress"
    )


def check(sim: model.SimModel, ami_id: str, now: float) -> None:
    """Refuse a store of `ami_id` that would take the account over its capacity."""
    limit = sim.settings.store_capacity_gb
    if limit is None:
        return
    busy = in_progress_gb(sim, now)
    size = sim.size_gb(ami_id)
    if busy > 0 and busy + size > limit:
        raise errors.Ec2Error(
            "ResourceLimitExceeded",
            f"Store image tasks in progress in this account hold {busy:,g} GB of EBS "
            f"snapshot data; storing {ami_id} ({size:,g} GB) would exceed the limit of "
            f"{limit:,g} GB. Try again when tasks in progress have completed.",
        )
