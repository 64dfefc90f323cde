"""The region's interval follows its subscriptions (it is memoized between them)."""

from __future__ import annotations

import random

from amistore_operator.core import model
from amistore_operator.polling import cache

from tests.unit.polling.test_poller import FakeClock


def make_spec(ami: str, interval: float) -> model.AmiStoreSpec:
    return model.AmiStoreSpec((ami,), None, (), "eu-west-1", interval)


def test_interval_is_the_smallest_of_the_current_subscriptions() -> None:
    tc = cache.TaskCache(clock=FakeClock(), rng=random.Random(1), on_change=lambda: None)
    assert tc.interval() == 60.0  # nobody subscribed: the default
    tc.subscribe("ns/slow", make_spec("ami-00000000000000001", 300), {})
    assert tc.interval() == 300
    tc.subscribe("ns/fast", make_spec("ami-00000000000000002", 10), {})
    assert tc.interval() == 10
    assert tc.ami_interval("ami-00000000000000001") == 300
    tc.subscribe("ns/fast", make_spec("ami-00000000000000002", 120), {})  # spec edited
    assert tc.interval() == 120
    tc.unsubscribe("ns/fast")
    assert tc.interval() == 300
    tc.unsubscribe("ns/slow")
    assert tc.interval() == 60.0
