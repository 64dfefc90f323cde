"""DescribeSnapshots, validated as EC2 does.

A snapshot is ``completed`` unless an AMI restore is making it (see ``restores``).
A caller sees the snapshots its account owns: the simulator models no
createVolumePermission, so no snapshot is shared or public. An ID of another
account's snapshot is left out of the answer, as AWS leaves out a snapshot the
caller has no access to; an ID no account has fails the call.
"""

from __future__ import annotations

from tests.sandbox.ec2sim import errors, imageactions, images, imagexml, paging, protocol, state

SNAPSHOT_FILTERS = ("snapshot-id", "owner-id", "status", "volume-size")


def _kept(snapshot: images.Snapshot, owner: str, req: protocol.Ec2Request, now: float) -> bool:
    fields = {
        "snapshot-id": snapshot.snapshot_id,
        "owner-id": owner,
        "status": snapshot.status_at(now)[0],
        "volume-size": str(snapshot.size_gib),
    }
    return all(
        any(imageactions.wildcard(v).fullmatch(fields[name]) for v in values)
        for name, values in req.filters
    )


def _by_ids(sim: state.SimState, ids: list[str]) -> list[images.Snapshot]:
    own = sim.images.snapshots
    others = [s.images.snapshots for s in sim.accounts() if s is not sim]
    missing = [i for i in ids if i not in own and not any(i in o for o in others)]
    if missing:
        raise errors.snapshots_not_found(missing)
    return [own[i] for i in sorted(set(ids)) if i in own]


def describe_snapshots(sim: state.SimState, req: protocol.Ec2Request, request_id: str) -> str:
    """DescribeSnapshots: by SnapshotIds, or the account's snapshots, paginated."""
    limit = paging.max_results(req.max_results)
    if req.snapshot_ids is not None and limit is not None:
        raise errors.Ec2Error(
            "InvalidParameterCombination",
            "The parameter SnapshotIds cannot be used with the parameter MaxResults",
        )
    imageactions.check_filters(req, SNAPSHOT_FILTERS)
    imageactions.check_owners(req.owners)
    for snapshot_id in req.snapshot_ids or ():
        if not images.SNAPSHOT_ID_RE.match(snapshot_id):
            raise errors.malformed_snapshot(snapshot_id)
    if req.dry_run:
        raise errors.dry_run_ok()
    account = sim.account
    now = sim.model.clock.now()
    if req.owners is not None and not {"self", account} & set(req.owners):
        candidates: list[images.Snapshot] = []  # no other owner shares a snapshot
    elif req.snapshot_ids is not None:
        # An ID a caller has is of a snapshot made already: no record needs making.
        candidates = _by_ids(sim, req.snapshot_ids)
    else:
        sim.images.registered_images(now)  # every default snapshot
        candidates = sorted(sim.images.snapshots.values(), key=lambda s: s.snapshot_id)
    shown, token = [s for s in candidates if _kept(s, account, req, now)], None
    if req.snapshot_ids is None:
        shown, token = paging.page(
            "DescribeSnapshots", shown, lambda s: s.snapshot_id, limit, req.next_token
        )
    return imagexml.describe_snapshots(request_id, shown, account, token, now)
