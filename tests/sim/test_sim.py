"""The safety rules over many seeds and over each defect of issue 18, on a virtual clock.

``make sim SEEDS=N`` runs more seeds than these; each failure prints the command that
replays it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.sim import fakeaws, fakekube, invariants, scenario

# Seeds whose runs still break a rule: open work, each replayed by ``make sim SEED=N``.
KNOWN_OPEN: dict[int, str] = {}
FIXED_SEEDS = [
    pytest.param(
        seed,
        marks=pytest.mark.xfail(
            strict=True, reason=f"open: {KNOWN_OPEN[seed]} (make sim SEED={seed})"
        ),
    )
    if seed in KNOWN_OPEN
    else seed
    for seed in range(200)
]
# Seeds beyond the fixed range that ``make sim`` once found breaking a rule, each fixed since:
# they stay here so the bug they found stays fixed.
FOUND_SEEDS = [
    *(509, 1038, 1085, 1227, 1641, 1718, 1781, 2041, 2052, 2059, 2097, 2166, 2265, 2302),
    *(2342, 2394, 2473, 2640, 2670, 2805, 2852, 2924, 3029, 3121, 3692, 4545, 4551, 4566, 4651),
    *(4776, 4786, 4846, 4904, 4949, 4954, 5013, 5094, 5099, 5133, 5147, 5255, 5278, 5485),
    *(5591, 5606, 5680, 7550, 7877, 8244, 10591, 11938, 13317, 13934, 15320, 15590, 15601),
    # every_retry_acted_on, when it was added
    *(100, 172, 182, 253, 290, 370, 559, 830, 998, 5000, 5367, 6150),
    # stored_as_computed, when it was added (3642: a retry lost that way)
    *(90, 95, 148, 157, 206, 225, 325, 347, 389, 3642),
]
VERIFY_SEEDS = range(40)
# Seeds of `make sim VERIFY=1` that once broke a rule.
VERIFY_FOUND_SEEDS = [12, 26, 48, 92, 144, 206, 331, 682, 786, 1085, 1529, 1579, 1691]
A, B, C = "ami-0000000a", "ami-0000000b", "ami-0000000c"


def replay(seed: int) -> str:
    """The one command that replays a seed."""
    return f"make sim SEED={seed}"


def check(sc: scenario.Scenario) -> scenario.Log:
    """Run a scenario and fail with every rule it broke."""
    log = scenario.run(sc)
    broken = invariants.check(log)
    assert not broken, f"{broken} (replay: {replay(sc.seed)})"
    return log


def creates(log: scenario.Log, ami: str = "") -> list[Any]:
    """The CreateStoreImageTask calls AWS acted on (for ``ami``)."""
    return [
        c
        for c in log.ec2.calls
        if c.op == "create" and c.outcome in ("ok", "lost") and (not ami or ami in c.amis)
    ]


def stored(log: scenario.Log, key: str) -> dict[str, Any]:
    """The status the API server holds for ``key`` at the end."""
    return log.kube.current(key).status or {}


def store(*amis: str, interval: float, bucket: str = "archive-a", **extra: Any) -> dict[str, Any]:
    """An export-mode AmiStore spec."""
    return {
        "imageIds": list(amis),
        "bucket": bucket,
        "createTasks": True,
        "pollIntervalSeconds": interval,
        **extra,
    }


@pytest.mark.parametrize("seed", FIXED_SEEDS)
def test_every_rule_holds_for_a_fixed_seed(seed: int) -> None:
    check(scenario.draw(seed))


@pytest.mark.parametrize("seed", FOUND_SEEDS)
def test_every_rule_holds_for_a_seed_that_once_broke_one(seed: int) -> None:
    check(scenario.draw(seed))


@pytest.mark.parametrize("seed", [*VERIFY_SEEDS, *VERIFY_FOUND_SEEDS])
def test_every_rule_holds_with_verify_objects(seed: int) -> None:
    # The same runs with verifyObjects on some AmiStores and some objects missing.
    check(scenario.draw(seed, verify=True))


def test_each_object_is_looked_at_once_across_a_restart_and_a_missing_one_retried() -> None:
    # A verifies; B's object is gone (a lifecycle rule deleted it): no fields, one Warning
    # per process, asked again every ten intervals; a restart after A's fields are stored
    # asks for A no more.
    spec = {**store(A, B, interval=60), "verifyObjects": True}
    sc = scenario.make(
        {"team-a/v": spec},
        interval=60.0,
        durations={A: 30.0, B: 30.0},
        missing=(B,),
        actions=(scenario.Action(400.0, "crash"),),
    )
    log = check(sc)
    heads = [c for c in log.ec2.calls if c.op == "head_object"]
    assert [c.amis for c in heads if c.outcome == "ok"] == [(A,)]
    missing = [c.t for c in heads if c.outcome == "404"]
    assert len(missing) >= 3
    pairs = itertools.pairwise(missing)
    assert all(b - a >= 600 or a < 400 <= b for a, b in pairs)  # ten intervals, or restarted
    entries = {e["amiId"]: e for e in stored(log, "team-a/v")["tasks"]}
    assert entries[A]["objectStorageClass"] == "STANDARD"
    assert "verifiedTime" not in entries[B]
    warned = [p for p in log.posted if p.event.reason == "ObjectUnverified"]
    assert len(warned) == 2  # once by each process


@pytest.mark.parametrize("interval", [240.0, 300.0, 86400.0])
def test_an_export_starts_whatever_the_interval_and_only_once(interval: float) -> None:
    # Defect 1 (300 s: never started) and 2 (240 s: started twice, a failed one retried).
    sc = scenario.make(
        {"team-a/s": store(A, B, interval=interval)},
        interval=interval,
        fails=(B,),
        visibility=30.0,
    )
    log = check(sc)
    assert len(creates(log, A)) == 1
    assert len(creates(log, B)) == 1  # Failed, and not retried by itself
    first = min(c.t for c in creates(log))
    assert first < 60, "the create follows the request within seconds, not an interval"


def test_two_amistores_naming_one_ami_and_bucket_create_it_once() -> None:
    # Defect 3.
    sc = scenario.make(
        {"team-a/one": store(A, interval=60), "team-b/two": store(A, interval=60)},
        visibility=30.0,
    )
    assert len(creates(check(sc), A)) == 1


def test_a_rejected_spec_frees_its_slots_for_another_namespace() -> None:
    # Defect 4: cap 2, team-a's spec becomes one the operator rejects.
    rejected = {**store(A, B, interval=60), "bucket": "a..b"}
    sc = scenario.make(
        {"team-a/big": store(A, B, interval=60), "team-b/small": store(C, interval=60)},
        durations={A: 7200.0, B: 7200.0, C: 60.0},
        max_concurrent=2,
        actions=(scenario.Action(30.0, "edit", "team-a/big", spec=rejected),),
    )
    log = check(sc)
    assert creates(log, C)
    assert min(c.t for c in creates(log, C)) < 7200


def test_a_refused_namespace_makes_no_call_through_the_account() -> None:
    # Defect 5: the account map lets only team-a use the other account.
    other = store(A, interval=60, account=scenario.OTHER_ACCOUNT)
    sc = scenario.make({"team-b/s": other}, namespaces=("team-a",))
    log = check(sc)
    assert not [c for c in log.ec2.calls if c.account == scenario.OTHER_ACCOUNT]
    ready = next(c for c in stored(log, "team-b/s")["conditions"] if c["type"] == "ExportReady")
    assert (ready["status"], ready["reason"]) == ("False", "AccountNotAllowed")


def test_one_ami_iam_refuses_blocks_no_other_nor_another_namespace() -> None:
    # Defect 6: an IAM policy scoped per AMI refuses A only.
    sc = scenario.make(
        {"team-a/s": store(A, B, interval=60), "team-b/t": store(C, interval=60)}, denied=(A,)
    )
    log = check(sc)
    assert creates(log, B)
    assert creates(log, C)
    assert not creates(log, A)
    entry = next(e for e in stored(log, "team-a/s")["tasks"] if e["amiId"] == A)
    assert entry["state"] == "Failed"
    assert "UnauthorizedOperation" in entry["failureReason"]


def test_an_ami_id_aws_rejects_blocks_no_other_create() -> None:
    # Defect 7: A is an ID AWS rejects, listed first.
    sc = scenario.make({"team-a/s": store(A, B, interval=60)}, invalid=(A,))
    assert creates(check(sc), B)


def test_a_refused_write_and_a_late_watch_never_create_twice() -> None:
    # Defect 8: half the writes refused for a while, watch events a minute late.
    sc = scenario.make(
        {"team-a/s": store(A, B, interval=30)},
        interval=30.0,
        lag=60.0,
        visibility=20.0,
        write_faults=fakekube.WriteFaults(refused=[(0.0, 600.0)], lost=[(0.0, 600.0)]),
        active=600.0,
    )
    log = check(sc)
    assert len(creates(log, A)) == 1
    assert len(creates(log, B)) == 1


def test_an_oversize_retry_value_never_freezes_the_status() -> None:
    # Defect 9: a 300-character retry value on a failed export.
    retry = scenario.Action(400.0, "retry", "team-a/s", value="x" * 300)
    sc = scenario.make({"team-a/s": store(A, interval=60)}, fails=(A,), actions=(retry,))
    log = check(sc)
    assert len(creates(log, A)) == 2  # the failed export retried once for the new value
    handled = stored(log, "team-a/s")["lastHandledRetryAt"]
    assert handled.startswith("sha256:")
    assert len(handled) <= 256


def test_an_export_hidden_behind_a_later_one_is_not_started_again_after_a_restart() -> None:
    # AWS lists A's latest task only: once A goes into archive-b, its archive-a export is
    # known from memory alone, until the status of the AmiStore that names it shows it.
    edits = (
        scenario.Action(
            300.0, "edit", "team-a/one", spec=store(A, interval=60, bucket="archive-b")
        ),
        scenario.Action(600.0, "edit", "team-b/two", spec=store(A, B, interval=60)),
        scenario.Action(900.0, "crash", ""),
    )
    sc = scenario.make(
        {"team-a/one": store(A, interval=60), "team-b/two": store(B, interval=60)},
        actions=edits,
    )
    log = check(sc)
    assert sorted(c.bucket for c in creates(log, A)) == ["archive-a", "archive-b"]
    entry = next(e for e in stored(log, "team-b/two")["tasks"] if e["amiId"] == A)
    assert (entry["state"], entry["bucket"]) == ("Completed", "archive-a")


def test_one_amis_refused_dryrun_after_a_pass_refuses_that_ami_not_its_neighbours() -> None:
    # IAM allowed A into archive-a; then team-b names B, which a tag-scoped policy denies.
    # The DryRun with B refuses B alone: team-a's ExportReady stays True throughout.
    edit = scenario.Action(300.0, "edit", "team-b/two", spec=store(B, interval=60))
    sc = scenario.make(
        {"team-a/one": store(A, interval=60), "team-b/two": store(C, interval=60)},
        amis=(A, B, C),
        durations=dict.fromkeys((A, B, C), 60.0),
        denied=(B,),
        actions=(edit,),
    )
    log = check(sc)
    readiness = {
        condition["status"]
        for write in log.kube.writes
        if write.key == "team-a/one" and write.outcome == "stored"
        for condition in write.status.get("conditions", ())
        if condition["type"] == "ExportReady"
    }
    assert readiness == {"True"}
    entry = next(e for e in stored(log, "team-b/two")["tasks"] if e["amiId"] == B)
    assert (entry["state"], entry["bucket"]) == ("Failed", "archive-a")
    assert "UnauthorizedOperation" in entry["failureReason"]
    assert not creates(log, B)


def test_every_export_started_or_refused_after_an_account_edit_and_a_restart() -> None:
    # A's export ends in the other account; the spec then names the own account, the same
    # bucket; a restart seeds from the stored status, which still shows the other
    # account's task: that task is no export into the own account's bucket.
    edits = (
        scenario.Action(300.0, "edit", "team-a/s", spec=store(A, interval=60)),
        scenario.Action(300.0, "crash", ""),
    )
    sc = scenario.make(
        {"team-a/s": store(A, interval=60, account=scenario.OTHER_ACCOUNT)},
        actions=edits,
    )
    log = check(sc)
    assert sorted(c.account for c in creates(log, A)) == ["", scenario.OTHER_ACCOUNT]


def test_every_export_started_or_refused_when_a_denied_amistore_held_the_slots() -> None:
    # Cap 2: team-a's two requests hold both slots of the other account when the map
    # stops letting team-a use it, before AWS lists their tasks. Denied, team-a makes no
    # call: its requests lapse after their grace, and team-b's AMI gets a slot.
    other = scenario.OTHER_ACCOUNT
    later = store(C, interval=60, account=other)
    actions = (
        scenario.Action(10.0, "reload", namespaces=("team-b",)),
        scenario.Action(20.0, "edit", "team-b/two", spec=later),
    )
    sc = scenario.make(
        {
            "team-a/one": store(A, B, interval=60, account=other),
            "team-b/two": {**later, "createTasks": False},
        },
        durations={A: 7200.0, B: 7200.0, C: 60.0},
        visibility=120.0,
        max_concurrent=2,
        actions=actions,
    )
    log = check(sc)
    assert creates(log, C)


def test_never_twice_a_request_a_bucket_edit_moves_away_survives_a_restart() -> None:
    # never_twice (seed 1038): A is requested into archive-a, then its AmiStore names
    # archive-b before AWS lists the task; after a restart another AmiStore naming A in
    # archive-a must know of that request, though no status shows it in its tasks.
    moved = store(A, interval=10, bucket="archive-b")
    edits = (
        scenario.Action(30.0, "edit", "team-b/mover", spec=moved),
        scenario.Action(40.0, "edit", "team-a/other", spec=store(A, B, interval=10)),
        scenario.Action(60.0, "crash", ""),
    )
    sc = scenario.make(
        {"team-b/mover": store(A, interval=10), "team-a/other": store(B, interval=10)},
        interval=10.0,
        visibility=300.0,
        actions=edits,
    )
    log = check(sc)
    assert [c.bucket for c in creates(log, A)].count("archive-a") == 1


def test_never_twice_an_export_hidden_behind_its_own_later_one_survives_a_restart() -> None:
    # never_twice (seed 4776): A goes into archive-a, then its AmiStore names archive-b and
    # exports A there, which hides the first task (AWS lists an AMI's latest task only);
    # after a restart, back to archive-a, the first export must still be known.
    moved = store(A, interval=60, bucket="archive-b")
    edits = (
        scenario.Action(300.0, "edit", "team-a/one", spec=moved),
        scenario.Action(600.0, "crash", ""),
        scenario.Action(900.0, "edit", "team-a/one", spec=store(A, interval=60)),
    )
    sc = scenario.make({"team-a/one": store(A, interval=60)}, actions=edits)
    log = check(sc)
    assert sorted(c.bucket for c in creates(log, A)) == ["archive-a", "archive-b"]


def budget_spill(**settings: Any) -> tuple[list[str], scenario.Scenario]:
    """40 failing AMIs requested at once at a 600 s interval, a free-form retry at 300 s.

    The create budget (a burst of 20 at 2 a second) leaves the last eight for the poll
    at 600 s, which read the resource before the retry value.
    """
    amis = [f"ami-{i:08x}" for i in range(40)]
    retry = scenario.Action(300.0, "retry", "team-a/s", value="retry-1")
    return amis, scenario.make(
        {"team-a/s": store(*amis, interval=600)},
        interval=600.0,
        durations=dict.fromkeys(amis, 30.0),
        fails=tuple(amis),
        max_concurrent=0,
        actions=(retry,),
        **settings,
    )


def test_never_twice_a_retry_value_set_while_a_poll_waits_is_read_when_it_decides() -> None:
    # never_twice, "no new retry value": a poll reads the resource, then waits up to an
    # interval for AWS's data. 40 AMIs are requested at once; the create budget (a burst
    # of 20 at 2 a second) leaves the last eight for the poll at 600 s, which read the
    # resource before the retry value set at 300 s. That value comes before their tasks
    # and asks nothing of them; decided on the body read before the wait, the poll starts
    # them without seeing it, and once they have failed the next poll retries them for it.
    amis, sc = budget_spill()
    log = check(sc)
    late = [a for a in amis if min(c.t for c in creates(log, a)) > 300]
    assert late, "some AMI's first create comes after the retry value"
    assert all(len(creates(log, a)) == 1 for a in late)


def test_never_twice_an_ami_waiting_for_a_slot_retries_no_task_another_amistore_started() -> None:
    # never_twice, "no new retry value": with one slot, team-b's A waits for it (Queued
    # without requestedTime, from 65 s) while team-a's C runs. team-a's request gets A at
    # 120 s; team-b's status then shows A Pending, but that write is lost, so team-b goes
    # on from its stored waiting entry and finds A's task Failed under it. That task
    # started after the wait began: it is no failed export the entry waits to retry.
    sc = scenario.make(
        {"team-a/one": store(C, A, interval=60), "team-b/two": store(A, interval=60)},
        durations={A: 10.0, C: 60.0},
        fails=(A,),
        max_concurrent=1,
        write_faults=fakekube.WriteFaults(lost=[(121.5, 123.0)], rate=1.0),
    )
    log = check(sc)
    assert len(creates(log, A)) == 1
    assert [w.key for w in log.kube.writes if w.outcome == "lost"] == ["team-b/two"]


def test_never_twice_a_retry_timestamp_set_before_the_first_task_retries_nothing() -> None:
    # never_twice, "no new retry value" (seed 2805): the retry value, a timestamp as the
    # docs tell, is set at 0.5 s, after the first poll read A's AmiStore and before its
    # task starts (about 1.9 s); watched a minute late, it is first read once that task
    # has failed. It names a time before the task started: it retries nothing. The value
    # set at 300 s names a time after: it retries A once.
    def at(t: float) -> scenario.Action:
        return scenario.Action(t, "retry", "team-a/s", value=scenario.retry_stamp(t))

    sc = scenario.make(
        {"team-a/s": store(A, interval=60)},
        durations={A: 10.0},
        fails=(A,),
        lag=60.0,
        actions=(at(0.5), at(300.0)),
    )
    log = check(sc)
    starts = [c.t for c in creates(log, A)]
    assert len(starts) == 2
    assert starts[0] < 0.5 + 60 < 300 < starts[1]


def test_never_twice_a_free_form_retry_value_read_before_a_call_survives_a_refused_write() -> None:
    # never_twice, "no new retry value": a free-form value set at 300 s is first read by
    # the poll at 600 s, which calls for the last eight AMIs (the create budget left them
    # from the first poll). That poll's status, recording the value handled, is refused:
    # read again as new at 1200 s, the value must not retry tasks started after it was read.
    amis, sc = budget_spill(write_faults=fakekube.WriteFaults(refused=[(600.0, 620.0)], rate=1.0))
    log = check(sc)
    late = [a for a in amis if min(c.t for c in creates(log, a)) > 300]
    assert late, "some AMI's first create comes after the retry value"
    assert all(len(creates(log, a)) == 1 for a in late)
    assert [w.outcome for w in log.kube.writes if 600 <= w.t < 620] == ["refused"]


def test_never_twice_a_free_form_retry_value_retries_no_task_started_after_it_was_watched() -> None:
    # never_twice, "no new retry value" (seed 2394): team-b's free-form value, set at 30 s,
    # reaches the operator through its watch at once; team-b's poll (every 1200 s) reads it
    # only at 300 s, when an edit adds A and wakes it. team-a's A started at about 62 s,
    # after the value, and has failed since: taken as a value that retries whatever Failed
    # task the poll sees, it started A a second time, which nobody asked for.
    actions = (
        scenario.Action(30.0, "retry", "team-b/two", value="retry-1"),
        scenario.Action(60.0, "edit", "team-a/one", spec=store(B, A, interval=60)),
        scenario.Action(300.0, "edit", "team-b/two", spec=store(C, A, interval=1200)),
    )
    sc = scenario.make(
        {"team-a/one": store(B, interval=60), "team-b/two": store(C, interval=1200)},
        amis=(A, B, C),
        durations=dict.fromkeys((A, B, C), 10.0),
        fails=(A,),
        actions=actions,
    )
    log = check(sc)
    assert 30 < min(c.t for c in creates(log, A)) < 300
    assert len(creates(log, A)) == 1
    assert stored(log, "team-b/two")["lastHandledRetryAt"] == "retry-1"


def test_every_export_started_after_an_edit_moves_an_amistore_to_another_account() -> None:
    # team-a's request for A was into the other account; its spec then names the own
    # account, where A's latest task is team-b's into archive-b: that old request says
    # nothing of this account, and A is still exported into its archive-a.
    moved = scenario.Action(30.0, "edit", "team-a/one", spec=store(A, interval=60))
    sc = scenario.make(
        {
            "team-a/one": store(A, interval=60, account=scenario.OTHER_ACCOUNT),
            "team-b/two": store(A, interval=60, bucket="archive-b"),
        },
        actions=(moved,),
    )
    log = check(sc)
    own = [c for c in creates(log, A) if c.account == "" and c.bucket == "archive-a"]
    assert len(own) == 1


def test_quiet_at_the_end_a_refused_create_stays_refused_after_its_write_gets_no_answer() -> None:
    # quiet_at_the_end: C's create is refused for good (IAM) at 2 s; the status showing
    # it Failed gets no answer (stored, but the operator cannot know), so the next poll
    # builds on the last confirmed status, where C is Queued. Taken from it as a live
    # request, C shows Queued again until that request's grace ends, and turns Failed
    # four intervals later, long after everything settled.
    sc = scenario.make(
        {"team-a/s": store(B, C, interval=3600)},
        interval=3600.0,
        denied=(C,),
        active=10.0,
        write_faults=fakekube.WriteFaults(lost=[(2.0, 2.5)], rate=1.0),
    )
    log = check(sc)
    assert [w.outcome for w in log.kube.writes[:2]] == ["stored", "lost"]
    states = [
        next(e["state"] for e in w.status["tasks"] if e["amiId"] == C) for w in log.kube.writes
    ]
    assert states[0] == "Queued"
    assert set(states[1:]) == {"Failed"}


def test_quiet_at_the_end_a_request_aws_never_answered_lapses_at_the_end_of_its_grace() -> None:
    # quiet_at_the_end: A's task failed; a retry at 100 s is handled by the poll at 3600 s
    # (R), whose create gets a 5xx: AWS may have acted, so no second call while the request
    # lives out its grace (R + 3 intervals + 15 min, 15300 s). The status must change when
    # the grace ends, not an interval later. AWS then lists no task of that request, so
    # the retry it was for is asked for again, once (every_retry_acted_on).
    retry = scenario.Action(100.0, "retry", "team-a/s", value="retry-1")
    sc = scenario.make(
        {"team-a/s": store(A, interval=3600)},
        interval=3600.0,
        fails=(A,),
        actions=(retry,),
        active=3610.0,
        aws_faults=fakeaws.Faults(unavailable=[(3601.4, 3601.6)], fault_rate=1.0),
    )
    log = check(sc)
    calls = [c for c in log.ec2.calls if c.op == "create"]
    assert [c.outcome for c in calls] == ["ok", "InternalError", "ok"]
    assert 15300 <= calls[2].t < 15300 + 60, calls[2]
    assert stored(log, "team-a/s")["tasks"][0]["state"] == "Failed"  # A fails every time


def test_quiet_at_the_end_a_refusal_for_another_amistores_ami_is_settled_at_once() -> None:
    # quiet_at_the_end: IAM refuses A and allows B into archive-a. B's export ends and A's
    # create is refused alone; after a restart, team-a's first DryRun (with A) refuses
    # archive-a for every AmiStore, team-b's too, though it names B alone and wants no
    # task. Its own AMI was never asked about, so team-b's ExportReady turned True at the
    # recheck ten intervals later, long after everything settled.
    sc = scenario.make(
        {"team-a/one": store(A, interval=600), "team-b/two": store(B, interval=600)},
        interval=600.0,
        denied=(A,),
        actions=(scenario.Action(900.0, "crash", ""),),
    )
    log = check(sc)
    assert not creates(log, A)
    assert len(creates(log, B)) == 1


def test_quiet_at_the_end_a_task_hidden_behind_another_buckets_never_stalls() -> None:
    # quiet_at_the_end: team-a exports A and B into archive-b; team-b then exports A (at
    # 300 s) and B (at 600 s) into archive-a. AWS lists an AMI's latest task only, so
    # team-a's two tasks are seen no more, their progress unknown: counted as stalled an
    # hour after their last progress seen, B's stall rewrote the status in the quiet tail,
    # and both were reported stalled though their progress is unknown.
    edits = (
        scenario.Action(300.0, "edit", "team-b/two", spec=store(A, C, interval=60)),
        scenario.Action(600.0, "edit", "team-b/two", spec=store(A, B, C, interval=60)),
    )
    sc = scenario.make(
        {
            "team-a/one": store(A, B, interval=60, bucket="archive-b", stallAfterSeconds=3600),
            "team-b/two": store(C, interval=60),
        },
        durations=dict.fromkeys((A, B, C), 1200.0),
        actions=edits,
    )
    log = check(sc)
    assert sorted(c.bucket for c in creates(log, A)) == ["archive-a", "archive-b"]
    hidden = [e for e in stored(log, "team-a/one")["tasks"] if e["state"] == "InProgress"]
    assert [e["amiId"] for e in hidden] == [B, A]
    assert not [e for e in hidden if e.get("stalled")]


def test_never_twice_a_request_outlives_its_amistores_rejected_spec_across_a_restart() -> None:
    # never_twice, "rejected spec" (seed 5485): team-a requests A into archive-b and calls
    # at about 2 s; its task stays unlisted for minutes. Its spec then names a bucket the
    # operator rejects (10 s): the status that says so still shows the request, but only
    # as a task entry of a spec nothing can parse. A restart (20 s) must still know that
    # request, so team-b, naming A and archive-b too, does not start A a second time.
    rejected = {**store(A, interval=60, bucket="archive-b"), "bucket": "a..b"}
    sc = scenario.make(
        {
            "team-a/one": store(A, interval=60, bucket="archive-b"),
            "team-b/two": store(A, interval=60, bucket="archive-b"),
        },
        visibility=300.0,
        actions=(
            scenario.Action(10.0, "edit", "team-a/one", spec=rejected),
            scenario.Action(20.0, "crash"),
        ),
    )
    log = check(sc)
    assert len(creates(log, A)) == 1


def test_quiet_at_the_end_a_create_refused_for_good_shows_at_once_in_every_amistore() -> None:
    # quiet_at_the_end (seed 5591): team-a and team-b both want A (IAM refuses it) in
    # archive-a. team-a's request (R at 0 s, with B, which IAM allows) gets a 5xx: no
    # second call, and it lapses when its grace ends (11700 s). team-b then records its
    # own, whose create AWS refuses for good: the refusal holds for the target, so team-a
    # shows it too, but only when its next interval's poll comes (15300 s), an interval
    # after everything settled; it must show it within seconds.
    sc = scenario.make(
        {"team-a/one": store(B, A, interval=3600), "team-b/two": store(A, interval=3600)},
        interval=3600.0,
        denied=(A,),
        active=10.0,
        aws_faults=fakeaws.Faults(unavailable=[(2.0, 2.2)], fault_rate=1.0),
    )
    log = check(sc)
    assert [c.outcome for c in log.ec2.calls if c.op == "create" and A in c.amis] == [
        "InternalError",
        "UnauthorizedOperation",
    ]
    refused = max(c.t for c in log.ec2.calls if c.op == "create")
    shown = [
        w.t
        for w in log.kube.writes
        if w.key == "team-a/one"
        and any(e["amiId"] == A and e["state"] == "Failed" for e in w.status["tasks"])
    ]
    assert shown, "team-a shows the refusal"
    assert shown[0] - refused < 60, "within seconds of AWS's answer"


@pytest.mark.parametrize(
    "stopped",
    [
        {**store(A, interval=10), "bucket": "a..b"},  # a spec the operator rejects
        {**store(A, interval=10), "createTasks": False},
    ],
    ids=["rejected", "create-tasks-off"],
)
def test_never_twice_a_request_of_an_amistore_that_stops_exporting_survives_a_restart(
    stopped: dict[str, Any],
) -> None:
    # never_twice (seed 10591): A is requested into archive-a, then its AmiStore's spec
    # becomes one the operator rejects (its status keeps the Queued entry, but no valid
    # spec says where it went), or one with createTasks off (its entries show AWS's view
    # only), before AWS lists the task; after a restart, another AmiStore naming A in
    # archive-a must know of that request.
    edits = (
        scenario.Action(30.0, "edit", "team-b/stopped", spec=stopped),
        scenario.Action(40.0, "edit", "team-a/other", spec=store(A, B, interval=10)),
        scenario.Action(60.0, "crash", ""),
    )
    sc = scenario.make(
        {"team-b/stopped": store(A, interval=10), "team-a/other": store(B, interval=10)},
        interval=10.0,
        visibility=300.0,
        actions=edits,
    )
    log = check(sc)
    assert len(creates(log, A)) == 1


@pytest.mark.parametrize(
    "edited",
    [
        {**store(B, interval=10), "region": "eu-west-100"},  # rejected, and A no more
        store(B, interval=10, bucket="archive-b"),  # another bucket, and A no more
        store(A, interval=10, account="111111111111"),  # another account
    ],
    ids=["rejected", "other-bucket", "other-account"],
)
def test_never_twice_a_request_an_unseen_edit_moves_away_survives_a_restart(
    edited: dict[str, Any],
) -> None:
    # never_twice (seed 15590): team-b requests A into archive-a and calls; AWS lists the
    # task only minutes later. Its spec is then edited away from A in archive-a and the
    # operator restarts before it watched that edit, so no status ever recorded the request
    # in exportRecords: only its stored status's Queued entry, of an earlier spec, tells
    # it. The next process must read it where that status says it went, or team-a, naming
    # A in archive-a too, starts A a second time.
    edits = (
        scenario.Action(40.0, "edit", "team-a/other", spec=store(A, B, interval=10)),
        scenario.Action(60.0, "edit", "team-b/moved", spec=edited),
        scenario.Action(60.0, "crash", ""),
    )
    sc = scenario.make(
        {"team-b/moved": store(A, interval=10), "team-a/other": store(B, interval=10)},
        interval=10.0,
        visibility=300.0,
        actions=edits,
    )
    log = check(sc)
    assert [c.bucket for c in creates(log, A) if not c.account].count("archive-a") == 1


def test_every_export_started_or_refused_a_rejected_spec_keeps_its_request_across_a_restart() -> (
    None
):
    # every_export_started_or_refused (seed 13934): team-a asks for A into archive-b (R at
    # 0 s) and calls; AWS lists that task only from about 22 s. Its spec is then edited to
    # a bucket the operator rejects and the operator crashes (5 s) before it polls that
    # spec (which records the request in exportRecords). The next process learned no
    # request from a rejected spec's entries, so team-b, asked for A into archive-a (10 s),
    # recorded one at once, beside a live export of A into another bucket; the operator
    # crashed again before calling for it (11.7 s). When that request's grace ended, AWS
    # listed team-a's task, started just before it: read as one that may hide team-b's, A
    # stayed Queued into archive-a for good.
    sc = scenario.make(
        {
            "team-a/one": store(A, interval=60, bucket="archive-b"),
            "team-b/two": store(B, interval=60),
        },
        actions=(
            scenario.Action(5.0, "edit", "team-a/one", spec=store(A, interval=60, bucket="a..b")),
            scenario.Action(5.0, "crash"),
            scenario.Action(10.0, "edit", "team-b/two", spec=store(A, B, interval=60)),
            scenario.Action(11.7, "crash"),  # after team-b's request is stored, before its call
        ),
        visibility=120.0,
    )
    log = check(sc)
    assert [c.bucket for c in creates(log, A)] == ["archive-b", "archive-a"]


def test_every_export_started_or_refused_an_unseen_account_edit_leaves_its_requests_behind() -> (
    None
):
    # every_export_started_or_refused (seed 15601): team-a asks for A into archive-a in
    # account 1111 and calls. Its spec is edited to the own account and the operator
    # restarts before it watched that edit: the stored status, of account 1111, showed A
    # Queued, and the next process read that request as one in the own account, where no
    # task of it ever shows. When its grace ended, the own account listed a task of A into
    # archive-b that team-b started just after it: read as one that may hide it, A stayed
    # Queued into archive-a for good.
    other = "111111111111"
    sc = scenario.make(
        {
            "team-a/moved": store(A, interval=10, account=other),
            "team-b/own": store(B, interval=10, bucket="archive-b"),
        },
        interval=10.0,
        visibility=30.0,
        actions=(
            scenario.Action(
                2.0, "edit", "team-b/own", spec=store(A, B, interval=10, bucket="archive-b")
            ),
            scenario.Action(5.5, "edit", "team-a/moved", spec=store(A, interval=10)),
            scenario.Action(6.0, "crash"),
        ),
    )
    log = check(sc)
    assert sorted((c.account, c.bucket) for c in creates(log, A)) == [
        ("", "archive-a"),
        ("", "archive-b"),
        (other, "archive-a"),
    ]


def test_every_export_started_or_refused_after_its_lapsed_request_was_never_written() -> None:
    # every_export_started_or_refused (seed 7877): team-a asks for A into archive-b (R at
    # 0 s); the create gets a 5xx, so no second call, and AWS lists no task for A. When the
    # request's grace ends (11700 s) team-a asks again, but that write is refused: its
    # stored status still shows the lapsed request. team-b then exports A into archive-a;
    # that task, started after R, was read as possibly hiding team-a's (AWS lists an
    # AMI's latest task only), so A stayed Queued into archive-b for good.
    sc = scenario.make(
        {
            "team-a/one": store(A, interval=3600, bucket="archive-b"),
            "team-b/two": store(B, interval=60),
        },
        seed=14,  # one whose writes refuse team-a's, not team-b's request
        interval=3600.0,
        active=11800.0,
        actions=(scenario.Action(11700.5, "edit", "team-b/two", spec=store(A, B, interval=60)),),
        aws_faults=fakeaws.Faults(unavailable=[(1.5, 2.5)], fault_rate=1.0),
        write_faults=fakekube.WriteFaults(refused=[(11690.0, 11800.0)], rate=0.5),
    )
    log = check(sc)
    assert [c.bucket for c in creates(log, A)] == ["archive-a", "archive-b"]


def test_every_export_started_or_refused_after_its_request_was_dropped_unanswered() -> None:
    # every_export_started_or_refused (seed 7550): team-a and team-b want A, into archive-a
    # and archive-b. team-a's status recording its request (R at 0 s) gets no answer at
    # 1.1 s: stored, but the operator cannot know, so it drops the request and never calls
    # for it. team-b then requests A and exports it into archive-b (1.9 s). Read back from
    # the stored status, team-a's request was one it might have called for; once its grace
    # ended, team-b's task, started within it, was read as hiding the task it never started
    # (AWS lists an AMI's latest task only), so A stayed Queued into archive-a for good.
    # Now the dropped request, which the write may have stored, keeps team-b off A to the
    # end of its grace (15 minutes and 3 intervals): team-a asks again at once and exports
    # A first, and team-b's export follows.
    sc = scenario.make(
        {
            "team-a/one": store(A, interval=60),
            "team-b/two": store(A, interval=60, bucket="archive-b"),
        },
        seed=3,  # one whose writes lose team-a's, not team-b's
        write_faults=fakekube.WriteFaults(lost=[(1.0, 1.2)], rate=0.5),
    )
    log = check(sc)
    assert [(w.key, w.outcome) for w in log.kube.writes[:2]] == [
        ("team-a/one", "lost"),
        ("team-b/two", "stored"),
    ]
    into = [(c.bucket, c.t) for c in creates(log, A)]
    assert [bucket for bucket, _ in into] == ["archive-a", "archive-b"]
    assert into[1][1] >= 900 + 3 * 60, into


def test_every_export_started_or_refused_after_two_of_its_requests_were_dropped_unanswered() -> (
    None
):
    # every_export_started_or_refused (seed 13317): team-a wants A into archive-b, team-b
    # into archive-a. team-a's status recording its request R0 gets no answer (1 s), and so
    # does the next one recording R7 (7 s): both stored, both dropped, never called. The
    # operator remembered only the latest (R7), so when the watch, late, delivered the
    # status showing R0 (10 s), R0 was read as a request that might have been called.
    # team-b exported A into archive-a then (11 s), within R0's grace: read as hiding R0's
    # task (AWS lists an AMI's latest task only), A stayed Queued into archive-b for good.
    # Now the dropped requests keep team-b off A to the end of their grace, and team-a,
    # asking again, exports A first.
    sc = scenario.make(
        {
            "team-a/one": store(A, interval=5, bucket="archive-b"),
            "team-b/two": store(A, interval=7),
        },
        interval=5.0,
        lag=7.0,
        active=30.0,
        write_faults=fakekube.WriteFaults(lost=[(0.0, 7.5)], rate=1.0),
    )
    log = check(sc)
    assert [(w.key, w.outcome) for w in log.kube.writes[:4]] == [
        ("team-a/one", "lost"),
        ("team-b/two", "lost"),
        ("team-a/one", "lost"),
        ("team-b/two", "stored"),
    ]
    assert [c.bucket for c in creates(log, A)] == ["archive-b", "archive-a"]


def test_quiet_at_the_end_a_task_one_status_shows_running_is_polled_after_a_restart() -> None:
    # quiet_at_the_end (seed 3692): team-a's export of A into archive-b ends (120 s), then
    # team-b's into archive-a runs and ends; the status showing it Completed is refused
    # (240 s), and the operator restarts (250 s). team-a's status, read first, seeds A's
    # cache entry with its finished task, to be re-checked within ten of team-a's hours;
    # team-b's status, showing a later task still running, was not read, so team-b went
    # on believing it ran until that re-check, and wrote Completed long after all settled.
    sc = scenario.make(
        {
            "team-a/one": store(A, interval=3600, bucket="archive-b"),
            "team-b/two": store(A, interval=60),
        },
        write_faults=fakekube.WriteFaults(refused=[(240.0, 250.0)], rate=1.0),
        actions=(scenario.Action(250.0, "crash"),),
    )
    log = check(sc)
    assert sorted(c.bucket for c in creates(log, A)) == ["archive-a", "archive-b"]
    assert [w.outcome for w in log.kube.writes if 240 <= w.t < 250] == ["refused"]
    completed = [
        w.t
        for w in log.kube.writes
        if w.key == "team-b/two" and w.outcome == "stored" and w.status["state"] == "Completed"
    ]
    assert completed, "team-b shows its export Completed"
    assert completed[0] - 250 < 60, "within an interval of the restart"


def test_quiet_at_the_end_a_bucket_edit_reads_the_task_aws_lists_not_the_old_status() -> None:
    # quiet_at_the_end (seed 11938): team-a exports A into archive-b; team-b then exports A
    # into archive-a (300 s), which hides team-a's task (AWS lists an AMI's latest task
    # only), and stops naming A (600 s). team-a's spec then names archive-a, tracking only
    # (900 s): its stored status, written for archive-b, still shows the archive-b task,
    # and A's new cache entry took that for AWS's latest task, so A showed Pending until
    # its re-check, up to ten intervals later, long after everything settled.
    tracking = {**store(A, interval=3600), "createTasks": False}
    edits = (
        scenario.Action(300.0, "edit", "team-b/two", spec=store(A, B, interval=3600)),
        scenario.Action(600.0, "edit", "team-b/two", spec=store(B, interval=3600)),
        scenario.Action(900.0, "edit", "team-a/one", spec=tracking),
    )
    sc = scenario.make(
        {
            "team-a/one": store(A, interval=3600, bucket="archive-b"),
            "team-b/two": store(B, interval=3600),
        },
        interval=3600.0,
        actions=edits,
    )
    log = check(sc)
    after = [w.status for w in log.kube.writes if w.key == "team-a/one" and w.t > 900]
    entry = after[0]["tasks"][0]
    assert (entry["state"], entry["bucket"]) == ("Completed", "archive-a")


def test_quiet_at_the_end_a_lapsed_request_leaves_the_records_when_its_grace_ends() -> None:
    # quiet_at_the_end (seed 15320): team-a asks for A and B; AWS lists A's task only
    # after up to 120 s. An edit drops A (5 s), so its live request is recorded in
    # exportRecords. When its grace ends (1080 s) the poll the operator wakes for drops
    # that record, but the status the poll computed was held from memory: the export
    # step's records were not among the inputs it compares, and nothing else changed.
    # The lapsed request stayed in the status until another change (in the seed, a write
    # in the quiet tail, an hour later).
    sc = scenario.make(
        {"team-a/one": store(A, B, interval=60)},
        actions=(scenario.Action(5.0, "edit", "team-a/one", spec=store(B, interval=60)),),
        visibility=120.0,
    )
    log = check(sc)
    writes = invariants.writes_of(log, "team-a/one")
    assert any(w.status.get("exportRecords") for w in writes if w.t < 1080)
    assert "exportRecords" not in stored(log, "team-a/one")
    lapsed = [w.t for w in writes if w.t > 1080]
    assert lapsed, "the lapsed record is written away"
    assert lapsed[0] < 1080 + 60, "within an interval of the grace end"


def test_every_export_started_or_refused_when_a_dropped_request_may_have_been_stored() -> None:
    # Seed 8244: store-1 requested ami-1 into archive-a at t=306; the write got no answer but
    # was stored, the later writes were refused, so the operator dropped it uncalled, and a
    # crash followed (t=354). Meanwhile store-2's retry wanted ami-1 into archive-b. Had that
    # export started (it did, at t=342), AWS would list it alone, and the restarted operator
    # could never tell whether the stored request had started a task: ami-1 stayed Queued
    # for good. The dropped request now keeps other buckets off ami-1 to the end of its
    # grace; then each bucket gets its export, once, the retry included.
    log = check(scenario.draw(8244))
    own = [c for c in creates(log, "ami-00000001") if c.account == ""]
    assert [c.bucket for c in own if c.t < 300] == ["archive-b"]  # store-2's first, failed
    later = [c for c in own if c.t > 300]
    assert sorted(c.bucket for c in later) == ["archive-a", "archive-b"]
    requested = 306  # store-1's stored request, 15 minutes plus 3 of its 600 s intervals
    assert all(c.t >= requested + 900 + 3 * 600 - 120 for c in later), later
