"""Which AMIs a caller sees, as DescribeImages documents it.

A caller sees its own AMIs and other accounts' that are public or shared with it
by account ID (launch permissions). A deregistered AMI of its own is still listed,
in state ``deregistered``, for ``ImageSettings.deregistered_visible_seconds``;
after that EC2 "returns empty results" for its ID while an instance launched from
it is not terminated, and only then answers InvalidAMIID.NotFound.
"""

from __future__ import annotations

import dataclasses

from tests.sandbox.ec2sim import images, state


@dataclasses.dataclass(frozen=True)
class Seen:
    """An AMI as one caller sees it: the record, its owner and its state."""

    image: images.Image
    owner: str
    state: str  # "available" or "deregistered"; a restored AMI's: pending or failed too

    @property
    def ami_id(self) -> str:
        """The AMI's ID."""
        return self.image.ami_id


def _shared(owner: state.SimState, ami_id: str, caller: str) -> images.Image | None:
    """Another account's registered AMI, if it shares it with ``caller`` (no default does)."""
    record = owner.images.records.get(ami_id)
    if record is None or record.deregistered_at is not None:
        return None  # no record yet is a private default; a stale one is re-registered
    if owner.images.registered(ami_id) and record.launchable_by(caller):
        return record
    return None


def find(sim: state.SimState, ami_id: str, now: float) -> Seen | None:
    """The AMI as ``sim``'s account sees it now, if it does."""
    own = sim.images
    if own.registered(ami_id):
        record = own.get(ami_id, now)
        if record is not None:
            return Seen(record, sim.account, record.state_at(now))
    for other in sim.accounts():
        if other is not sim and (record := _shared(other, ami_id, sim.account)) is not None:
            return Seen(record, other.account, record.state_at(now))
    shown = own.shown_deregistered(ami_id, now)
    if shown is not None:
        return Seen(shown, sim.account, "deregistered")
    return None


def hidden(sim: state.SimState, ami_id: str) -> bool:
    """Whether EC2 answers an own deregistered AMI's ID with empty results, not NotFound."""
    return ami_id in sim.images.amis and sim.references.running_instances_of(ami_id)


def listing(sim: state.SimState, now: float) -> list[Seen]:
    """Every AMI the caller sees, by ID."""
    own = sim.images.registered_images(now)
    seen = {r.ami_id: Seen(r, sim.account, r.state_at(now)) for r in own}
    for ami_id in sim.images.records:
        record = sim.images.shown_deregistered(ami_id, now)
        if record is not None:
            seen[ami_id] = Seen(record, sim.account, "deregistered")
    for other in sim.accounts():
        if other is sim:
            continue
        for ami_id in other.images.records:
            record = _shared(other, ami_id, sim.account)
            if record is not None and ami_id not in seen:
                seen[ami_id] = Seen(record, other.account, record.state_at(now))
    return [seen[a] for a in sorted(seen)]
