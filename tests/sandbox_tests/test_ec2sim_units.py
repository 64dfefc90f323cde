"""The simulator's pieces with plain values: clock, buckets, task scripts, wire parsing."""

from __future__ import annotations

import pytest

from tests.sandbox.ec2sim import errors, faults, model, protocol, throttle


class FakeTime:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_and_refill() -> None:
    clock = FakeTime()
    bucket = throttle.TokenBucket(burst=50, rate=0.5, clock=clock)
    assert all(bucket.take() for _ in range(50))
    assert not bucket.take()
    clock.now += 1.9
    assert not bucket.take()
    clock.now += 0.1
    assert bucket.take()
    clock.now += 10_000
    assert bucket.available() == 50


def test_throttler_per_action_and_off_switch() -> None:
    clock = FakeTime()
    throttler = throttle.Throttler(clock=clock)
    throttler.configure("DescribeStoreImageTasks", burst=1, rate=0)
    assert throttler.allow("DescribeStoreImageTasks")
    assert not throttler.allow("DescribeStoreImageTasks")
    assert throttler.allow("CreateStoreImageTask")
    assert throttler.allow("SomethingElse")
    throttler.enabled = False
    assert throttler.allow("DescribeStoreImageTasks")
    with pytest.raises(ValueError, match="burst"):
        throttler.configure("X", burst=0, rate=1)


def test_clock_offset_and_freeze() -> None:
    wall = FakeTime(100.0)
    clock = model.SimClock(wall)
    clock.advance(50)
    assert clock.now() == 150
    wall.now = 110
    assert clock.now() == 160
    clock.freeze()
    wall.now = 500
    assert clock.now() == 160
    clock.set(1000)
    assert clock.now() == 1000
    clock.freeze(False)
    wall.now = 510
    assert clock.now() == 1010


def test_task_script() -> None:
    task = model.StoreTask("ami-12345678", "b", start_time=0.0, duration=200.0)
    assert model.view(task, 100.0).progress == 50
    assert model.view(task, -5.0).progress == 0
    assert model.view(task, 200.0).state == "Completed"
    task.fail_at, task.failure_reason = 30, "Access Denied for bucket b"
    failed = model.view(task, 100.0)
    assert (failed.state, failed.progress, failed.failure_reason) == (
        "Failed",
        30,
        "Access Denied for bucket b",
    )
    assert model.view(task, 59.0).failure_reason is None
    assert task.object_key == "ami-12345678.bin"


def test_page_walks_the_index_after_a_key() -> None:
    sim = model.SimModel(model.SimClock(FakeTime(10_000.0)))
    ids = [f"ami-{i:08x}" for i in range(5)]
    sim.register(ids)
    sim.put_many(model.StoreTask(a, "b", start_time=9000.0 + i) for i, a in enumerate(ids))
    first, key = sim.page(None, None, 2, None)
    assert [t.ami_id for t in first] == [ids[4], ids[3]]
    assert key is not None
    rest, end = sim.page(None, None, 10, key)
    assert [t.ami_id for t in rest] == [ids[2], ids[1], ids[0]]
    assert end is None
    sim.put(model.StoreTask(ids[0], "b", start_time=9999.0))
    assert [t.ami_id for t in sim.page(None, None, 1, None)[0]] == [ids[0]]


def test_parse_query_form() -> None:
    req = protocol.parse(
        {
            "Action": "DescribeStoreImageTasks",
            "ImageId.2": "ami-22222222",
            "ImageId.1": "ami-11111111",
            "Filter.1.Name": "bucket",
            "Filter.1.Value.2": "y",
            "Filter.1.Value.1": "x",
            "Filter.2.Name": "task-state",
            "Filter.2.Value.1": "Failed",
            "MaxResults": "10",
            "DryRun": "true",
        }
    )
    assert req.image_ids == ["ami-11111111", "ami-22222222"]
    assert req.filters == [("bucket", ["x", "y"]), ("task-state", ["Failed"])]
    assert req.dry_run
    assert req.to_log()["MaxResults"] == 10


def test_token_round_trip_and_rejection() -> None:
    key = (-1_700_000_000.123456, "ami-12345678")
    assert protocol.decode_token(protocol.encode_token(key)) == key
    with pytest.raises(errors.Ec2Error) as exc:
        protocol.decode_token("garbage!")
    assert exc.value.code == "InvalidPaginationToken"


def test_timestamp_has_milliseconds() -> None:
    assert protocol.timestamp(0.5) == "1970-01-01T00:00:00.500Z"


def test_error_xml_escapes() -> None:
    xml = protocol.render_error("rid", errors.Ec2Error("InternalError", "a < b & c"))
    assert "<Message>a &lt; b &amp; c</Message>" in xml
    assert "<RequestID>rid</RequestID>" in xml


def test_faults_consume_counts_in_order() -> None:
    fs = faults.FaultSet()
    fs.inject("delay", delay_seconds=0.5, count=1)
    fs.inject("InternalError", action="A", count=1)
    fs.inject("Unavailable")
    assert fs.take("B") == (0.5, fs.faults[-1])
    delay, chosen = fs.take("A")
    assert (delay, chosen and chosen.kind) == (0.0, "InternalError")
    delay, chosen = fs.take("A")
    assert chosen is not None
    assert chosen.kind == "Unavailable"
    assert fs.clear() == 1
    with pytest.raises(ValueError, match="unknown fault"):
        fs.inject("Nope")
