"""The DryRun probe rules: when to ask IAM again whether creating is allowed, and with which AMI.

Pure, like ``export``: the last verdict (``exportready.Verdict``) and this poll's
``Inputs`` in, the AMI to DryRun with now (or None) out.
"""

from __future__ import annotations

from collections.abc import Sequence

from amistore_operator.core import exportpoll

RECHECK_INTERVALS = 10  # a refused DryRun is asked again after this many intervals
MAX_PROBES = 3  # DryRuns with different AMIs before waiting for the recheck


def probe(inputs: exportpoll.Inputs, wanted: Sequence[str], denied: str | None) -> str | None:
    """The AMI to DryRun with now, if IAM's verdict is unknown or due again."""
    verdict = inputs.verdict
    tried = verdict.tried if verdict is not None else ()
    # AWS answered for these: an ID it rejects, or one it refused a create for, tells
    # nothing of IAM (a DryRun with it is refused as invalid, or adds nothing).
    pool = [
        a
        for a in dict.fromkeys((*wanted, *inputs.spec.image_ids))
        if a in inputs.listed and a not in inputs.refused
    ]
    fresh = [a for a in pool if a not in tried]
    first = next(iter(fresh or pool), None)
    if verdict is None or inputs.spec_changed:
        return first
    if denied is None:
        return None
    if not any(a in tried for a in pool):
        # Refused for other AmiStores' AMIs alone: ask with one of its own now, so the
        # verdict settles while things change, not at a recheck long after.
        return first
    due = inputs.monotonic - verdict.checked >= RECHECK_INTERVALS * inputs.interval
    if due:
        # An AMI that wants a task and was not tried yet, else one IAM refused: with nothing
        # to start, only a change of the policy changes the answer (and the condition).
        untried = [a for a in wanted if a in fresh]
        return untried[0] if untried else next(a for a in tried if a in pool)
    if len(tried) < MAX_PROBES and fresh and wanted:
        return fresh[0]  # IAM may be scoped per AMI: try another before waiting
    return None
