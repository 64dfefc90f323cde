"""The benchmark's change schedule: every change at its own moment of its interval."""

import random

from bench import workload


def _workload(in_progress: int, size: int = 1000) -> workload.Workload:
    return workload.Workload(
        names=[f"ams-{i}" for i in range(size)],
        amis=[f"ami-{i}" for i in range(size)],
        in_progress=list(range(in_progress)),
        progress=dict.fromkeys(range(in_progress), 10),
    )


def test_each_interval_changes_its_own_set_at_moments_spread_over_it() -> None:
    wl = _workload(in_progress=1000, size=10_000)

    moves = workload.schedule(wl, intervals=3, interval=60.0, rng=random.Random(1))

    assert [offset for offset, _ in moves] == sorted(offset for offset, _ in moves)
    for k in range(3):
        inside = [(t, i) for t, i in moves if k * 60.0 <= t < (k + 1) * 60.0]
        assert sorted(i for _, i in inside) == sorted(workload.change_set(wl, k))
        times = [t - k * 60.0 for t, _ in inside]
        # 100 draws over the interval: every sixth of it holds some, none holds most.
        sixths = [sum(1 for t in times if s * 10.0 <= t < (s + 1) * 10.0) for s in range(6)]
        assert min(sixths) > 0
        assert max(sixths) < 40
    assert len({round(t, 6) for t, _ in moves}) == len(moves)


def test_a_lone_in_progress_task_changes_once_per_interval_in_order() -> None:
    wl = _workload(in_progress=1, size=10)

    moves = workload.schedule(wl, intervals=3, interval=10.0, rng=random.Random(2))

    assert [i for _, i in moves] == [0, 0, 0]
    assert [int(t // 10.0) for t, _ in moves] == [0, 1, 2]


def test_step_moves_the_pinned_progress_and_stops_below_100() -> None:
    wl = _workload(in_progress=2)
    wl.progress[1] = 99

    assert workload.step(wl, 0) == 11
    assert workload.step(wl, 0) == 12
    assert workload.step(wl, 1) == 99
    assert wl.progress == {0: 12, 1: 99}
