"""Events as kube-apiserver stores what kopf posts: times cut to the second, but eventTime.

kopf sends ``firstTimestamp``, ``lastTimestamp`` and ``eventTime`` to the microsecond; the
server keeps the first two to the second (metav1.Time) and ``eventTime`` to the microsecond
(metav1.MicroTime), so Events of one second are ordered by ``eventTime`` only (as the
plugin's ``kubectl amistore status`` does). The emulator is held to the same
(``tests/sandbox_tests/test_kubeapi_parity.py``).
"""

from __future__ import annotations

import json

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.realkube

SENT = "2026-12-05T06:53:27.935326+00:00"
STORED = {
    "firstTimestamp": "2026-12-05T06:53:27Z",
    "lastTimestamp": "2026-12-05T06:53:27Z",
    "eventTime": "2026-12-05T06:53:27.935326Z",
}


def kopf_event(namespace: str) -> str:
    """An Event with the fields kopf's events.post_event sends."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": "kopf-event-", "namespace": namespace},
            "action": "Action?",
            "type": "Normal",
            "reason": "StoreStarted",
            "message": "m",
            "reportingComponent": "kopf",
            "reportingInstance": "dev",
            "source": {"component": "kopf"},
            "involvedObject": {"kind": "AmiStore", "name": "x", "namespace": namespace},
            "firstTimestamp": SENT,
            "lastTimestamp": SENT,
            "eventTime": SENT,
        }
    )


def test_event_times_are_kept_to_the_second_and_event_time_to_the_microsecond(
    kubectl: harness.Kubectl,
) -> None:
    created = json.loads(
        kubectl.run("create", "-f", "-", "-o", "json", stdin=kopf_event(kubectl.namespace)).stdout
    )
    assert {key: created[key] for key in STORED} == STORED
