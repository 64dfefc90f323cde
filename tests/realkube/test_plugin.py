"""The plugin's watch on the real API server, through the official client: events as they
happen, the end of a window, and 410 Gone for a version that etcd has compacted away.

kube-apiserver serves watches from its watch cache, which keeps its own history (a
compaction of etcd does not shorten it). A second kube-apiserver on the same etcd without
that cache (``--watch-cache=false``, as in an HA control plane where one member has it
off) serves them from etcd, where a compaction makes an older resourceVersion 410 Gone at
once: what a client resuming a long-idle watch meets on any cluster.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from amistore_operator.plugin import cluster as plugin_cluster
from amistore_operator.plugin import errors, render, verdict, watch

from tests.e2e import harness
from tests.sandbox import cluster, realkube

pytestmark = pytest.mark.realkube

AMI = "ami-0a1b2c3d4e5f60718"


@pytest.fixture(scope="module")
def uncached(real_sandbox: cluster.Sandbox) -> Iterator[realkube.RealKube]:
    """A kube-apiserver without a watch cache, on the session's etcd."""
    assert real_sandbox.real is not None
    server = real_sandbox.real.another_apiserver("uncached", "--watch-cache=false")
    try:
        yield server
    finally:
        server.down()


class Frames:
    """A Display that keeps what it was shown."""

    def __init__(self) -> None:
        self.shown: list[render.Obj] = []

    def show(self, obj: render.Obj) -> None:
        self.shown.append(obj)


def complete(kubectl: harness.Kubectl, name: str) -> None:
    """Write a Complete status of the current generation, as the operator would."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "state": "Completed",
        "observedGeneration": 1,
        "progressPercentage": 100,
        "tasksTotal": 1,
        "tasksCompleted": 1,
        "conditions": [
            {
                "type": "Complete",
                "status": "True",
                "reason": "AllCompleted",
                "message": "",
                "lastTransitionTime": stamp,
            }
        ],
    }
    kubectl.write_status(name, status)


def test_a_watch_sees_each_change_and_410_gone_once_etcd_compacted_it(
    uncached: realkube.RealKube, real_sandbox: cluster.Sandbox, kubectl: harness.Kubectl
) -> None:
    assert real_sandbox.real is not None
    kubectl.apply(harness.amistore("watched", imageIds=[AMI]))
    api = plugin_cluster.connect(str(uncached.admin_kubeconfig), None)
    ns = kubectl.namespace
    _, version = plugin_cluster.get_amistore(api, ns, "watched")
    kubectl.run("annotate", "amistore", "watched", "step=1")
    kubectl.run("annotate", "amistore", "watched", "step=2", "--overwrite")

    # From that version: both changes, in order, then the window's end closes the stream.
    seen = list(plugin_cluster.watch_amistore(api, ns, "watched", version, 2))
    assert [(kind, obj["metadata"]["annotations"]["step"]) for kind, obj in seen] == [
        ("MODIFIED", "1"),
        ("MODIFIED", "2"),
    ]

    real_sandbox.real.compact()
    with pytest.raises(errors.WatchExpiredError):
        list(plugin_cluster.watch_amistore(api, ns, "watched", version, 2))
    # From the current version it goes on.
    _, current = plugin_cluster.get_amistore(api, ns, "watched")
    assert list(plugin_cluster.watch_amistore(api, ns, "watched", current, 1)) == []


def test_follow_gets_a_change_made_between_its_read_and_its_watch(
    uncached: realkube.RealKube, kubectl: harness.Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch starts from the read's resourceVersion, so nothing in between is lost."""
    kubectl.apply(harness.amistore("followed", imageIds=[AMI]))
    api = plugin_cluster.connect(str(uncached.admin_kubeconfig), None)
    frames = Frames()
    original = plugin_cluster.watch_amistore
    watches: list[str] = []

    def complete_then_watch(
        api: plugin_cluster.Cluster, namespace: str, name: str, version: str, seconds: int
    ) -> Iterator[tuple[str, render.Obj]]:
        if not watches:
            complete(kubectl, "followed")  # after follow()'s read, before its watch
        watches.append(version)
        yield from original(api, namespace, name, version, seconds)

    monkeypatch.setattr(plugin_cluster, "watch_amistore", complete_then_watch)
    judged, last = watch.follow(api, kubectl.namespace, "followed", frames, timeout=30)
    assert judged == verdict.Verdict.COMPLETE
    assert len(watches) == 1
    assert last["status"]["state"] == "Completed"
    assert [f.get("status", {}).get("state") for f in frames.shown] == [None, "Completed"]
