"""The EC2 actions the simulator serves, validated the way EC2 validates them."""

from __future__ import annotations

from tests.sandbox.ec2sim import capacity, errors, model, paging, protocol

MAX_IMAGE_IDS = 20
MAX_RESULTS_RANGE = (1, 200)
FILTER_NAMES = ("task-state", "bucket")


def _check_malformed(ami_ids: list[str]) -> None:
    """Malformed IDs fail before unknown ones, as on EC2."""
    for ami_id in ami_ids:
        if not model.AMI_ID_RE.match(ami_id):
            raise errors.malformed_ami(ami_id)


def _check_found(sim: model.SimModel, ami_ids: list[str]) -> None:
    """Unknown or deregistered AMIs fail the whole call, all named at once."""
    missing = [a for a in ami_ids if not sim.is_registered(a)]
    if missing:
        raise errors.ami_not_found(missing)


def describe(sim: model.SimModel, req: protocol.Ec2Request, request_id: str) -> str:
    """DescribeStoreImageTasks: by ImageIds, or a filtered, paginated listing."""
    ids = req.image_ids
    if ids is not None and len(ids) > MAX_IMAGE_IDS:
        raise errors.Ec2Error(
            "InvalidParameterValue",
            f"Value ({len(ids)}) for parameter ImageIds is invalid. "
            f"Up to {MAX_IMAGE_IDS} AMI IDs can be included in a request.",
        )
    if ids is not None and req.max_results is not None:
        raise errors.Ec2Error(
            "InvalidParameterCombination",
            "The parameter ImageIds cannot be used with the parameter MaxResults",
        )
    asked = paging.max_results(req.max_results, *MAX_RESULTS_RANGE)
    limit = model.DEFAULT_PAGE_SIZE if asked is None else asked
    states: set[str] | None = None
    buckets: set[str] | None = None
    for name, values in req.filters:
        if name not in FILTER_NAMES:
            raise errors.Ec2Error("InvalidParameterValue", f"The filter '{name}' is invalid")
        if name == "task-state":
            states = set(values) if states is None else states & set(values)
        else:
            buckets = set(values) if buckets is None else buckets & set(values)
    after = None if req.next_token is None else protocol.decode_token(req.next_token)
    if ids is not None:
        _check_malformed(ids)
    if req.dry_run:
        raise errors.dry_run_ok()
    if ids is not None:
        unique = list(dict.fromkeys(ids))
        _check_found(sim, unique)
        # AWS ignores Filters when ImageIds is given, and the list is never paginated.
        return protocol.render_describe(request_id, sim.by_ids(unique), None)
    tasks, next_key = sim.page(states, buckets, limit, after)
    token = None if next_key is None else protocol.encode_token(next_key)
    return protocol.render_describe(request_id, tasks, token)


def _check_bucket_region(sim: model.SimModel, bucket: str, region: str) -> None:
    """A store goes to a bucket in the AMI's own region.

    AWS's guide asks for a bucket in the AMI's Region but does not publish the
    error: the code and wording here are our approximation.
    """
    where = sim.settings.bucket_regions.get(bucket)
    if where is not None and region and where != region:
        raise errors.Ec2Error(
            "InvalidParameter",
            f"The S3 bucket {bucket} is in {where}; store the AMI in a bucket in {region}.",
        )


def create(sim: model.SimModel, req: protocol.Ec2Request, request_id: str) -> str:
    """CreateStoreImageTask: start a task storing the AMI as `ami-....bin` in the bucket.

    Checks in EC2's order: parameters, malformed ID, DryRun, unknown AMI, then the
    account's capacity (see `capacity`). The new task holds its capacity at once but
    stays out of DescribeStoreImageTasks for `settings.visibility_delay` seconds, as
    EC2's eventually consistent API may not list a resource just created (AWS
    publishes no bound). A task already there for the AMI, in progress or not, in
    any bucket, is replaced: what AWS does then is not documented.
    """
    image_id, bucket = req.image_id, req.bucket
    for name, value in (("ImageId", image_id), ("Bucket", bucket)):
        if not value:
            raise errors.Ec2Error(
                "MissingParameter", f"The request must contain the parameter {name}"
            )
    if image_id is None or bucket is None:  # for the type checker; handled just above
        raise AssertionError
    _check_malformed([image_id])
    if req.dry_run:
        raise errors.dry_run_ok()
    _check_found(sim, [image_id])
    _check_bucket_region(sim, bucket, req.region)
    now = sim.clock.now()
    capacity.check(sim, image_id, now)
    task = model.StoreTask(
        ami_id=image_id,
        bucket=bucket,
        start_time=now,
        duration=sim.settings.create_duration,
        tags=list(req.tags),
        visible_from=now + sim.settings.visibility_delay,
    )
    sim.put(task)
    return protocol.render_create(request_id, task.object_key)


HANDLERS = {
    "DescribeStoreImageTasks": describe,
    "CreateStoreImageTask": create,
}
