"""The commands on a scripted cluster: restore (and --wait), list of both kinds, status amr/NAME."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from amistore_operator.plugin import cli, cluster, errors, kinds
from kubernetes import client

URL = "s3://acme-ami-archive/ami-0123456789abcdef0.bin"
NAME = "restore-ami-0123456789abcdef0"
IMAGE = "ami-0fedcba9876543210"


def restore(rv: int, name: str = NAME, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "team",
            "generation": 1,
            "resourceVersion": str(rv),
            "creationTimestamp": "2026-11-27T03:55:00Z",
        },
        "spec": {"bucket": "acme-ami-archive", "objectKey": "ami-0123456789abcdef0.bin"},
        "status": {"observedGeneration": 1, **status} if status else {},
    }


class Scripted:
    """The cluster module's calls, answered from lists; what was created is kept."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.created: list[dict[str, Any]] = []
        self.versions: list[dict[str, Any]] = []
        self.listed: dict[str, list[dict[str, Any]]] = {"amistores": [], "amirestores": []}
        api = cluster.Cluster(api=None, namespace="team", host="http://cluster")
        monkeypatch.setattr(cluster, "connect", lambda *args: api)
        monkeypatch.setattr(cluster, "create_amirestore", self.create)
        monkeypatch.setattr(cluster, "get_amirestore", self.get)
        monkeypatch.setattr(cluster, "watch_amirestore", self.watch)
        monkeypatch.setattr(cluster, "list_objects", self.list_objects)
        monkeypatch.setattr(cluster, "events", lambda api, obj: [])

    def create(self, api: Any, body: dict[str, Any]) -> dict[str, Any]:
        self.created.append(body)
        return body

    def get(self, api: Any, namespace: str, name: str) -> tuple[dict[str, Any], str]:
        obj = self.versions.pop(0)
        return obj, obj["metadata"]["resourceVersion"]

    def watch(self, api: Any, ns: str, name: str, rv: str, seconds: int) -> Iterator[Any]:
        while self.versions:
            yield "MODIFIED", self.versions.pop(0)

    def list_objects(
        self, api: Any, kind: kinds.Kind, namespace: str | None, name: str | None = None
    ) -> dict[str, Any]:
        if kind.plural not in self.listed:
            raise errors.NoResourceTypeError(f"no {kind.kind}")
        items = [o for o in self.listed[kind.plural] if name in (None, o["metadata"]["name"])]
        return {"items": items, "metadata": {"resourceVersion": "1"}}


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Scripted:
    return Scripted(monkeypatch)


def test_restore_creates_one_and_says_how_to_wait(
    scripted: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["restore", URL, "--ami-name", "golden", "--thaw-days", "2"]) == 0
    [body] = scripted.created
    assert body["metadata"] == {"name": NAME, "namespace": "team"}  # the context's namespace
    assert body["spec"]["name"] == "golden"
    assert body["spec"]["thaw"] == {"days": 2}
    assert capsys.readouterr().out.splitlines() == [
        f'amirestore "{NAME}" created in namespace "team": AMI "golden" from {URL}',
        f"next: kubectl wait --for=condition=Complete amirestore/{NAME} -n team",
    ]


def test_restore_wait_follows_it_to_available(
    scripted: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.versions = [
        restore(1),
        restore(2, phase="Pending"),
        restore(3, phase="Restoring", progressPercentage=40, imageId=IMAGE),
        restore(4, phase="Available", imageId=IMAGE, imageName="golden"),
    ]
    assert cli.main(["restore", URL, "-n", "other", "--wait", "--timeout", "1m"]) == 0
    assert scripted.created[0]["metadata"]["namespace"] == "other"
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(f"the AMI (named as the object records) from {URL}")
    assert [line[9:] for line in out[1:-1]] == [  # after the HH:MM:SS stamp
        f"{NAME} Unknown 0%",
        f"{NAME} Pending 0%",
        f"{NAME} Restoring 40% {IMAGE}",
        f"{NAME} Available 100% {IMAGE}",
    ]
    assert out[-1] == f'amirestore "{NAME}" is Available: {IMAGE} (golden)'


def test_watch_of_a_failed_restore_exits_1_with_the_reason(
    scripted: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.versions = [restore(1, phase="Failed", failureReason="InvalidObject: truncated")]
    assert cli.main(["watch", f"amr/{NAME}"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f'amirestore "{NAME}" has failed: InvalidObject: truncated'


def test_list_shows_both_kinds_and_leaves_out_an_absent_one(
    scripted: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.listed["amirestores"] = [restore(1, phase="Restoring", progressPercentage=40)]
    assert cli.main(["list"]) == 0
    only_restores = capsys.readouterr().out.splitlines()
    assert only_restores[0].split() == [
        "NAME",
        "PHASE",
        "PROGRESS",
        "IMAGE",
        "SOURCE",
        "SYNCED",
        "AGE",
    ]
    assert only_restores[1].split()[:5] == [NAME, "Restoring", "████████░░░░░░░░░░░░", "40%", "-"]

    store = {"metadata": {"name": "golden", "namespace": "team"}, "status": {"state": "Completed"}}
    scripted.listed["amistores"] = [store]
    assert cli.main(["list", "-A"]) == 0
    both = capsys.readouterr().out.splitlines()
    assert both[0].split()[:3] == ["NAMESPACE", "NAME", "STATE"]
    assert both[1].split()[:3] == ["team", "golden", "Completed"]
    assert both[2] == ""
    assert both[3].split()[:3] == ["NAMESPACE", "NAME", "PHASE"]

    del scripted.listed["amirestores"]  # a cluster without the AmiRestore CRD
    assert cli.main(["list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

    scripted.listed = {"amistores": [], "amirestores": []}
    assert cli.main(["list"]) == 0
    assert capsys.readouterr().err == 'No AmiStores or AmiRestores found in namespace "team".\n'


def test_status_of_a_restore(scripted: Scripted, capsys: pytest.CaptureFixture[str]) -> None:
    synced = {
        "type": "Synced",
        "status": "False",
        "reason": "ObjectArchived",
        "message": "the object is in GLACIER: add spec.thaw (days, tier) to thaw it first",
    }
    obj = restore(1, phase="Pending", objectStorageClass="GLACIER", conditions=[synced])
    scripted.listed["amirestores"] = [obj]
    assert cli.main(["status", f"amirestore/{NAME}", "--no-color"]) == 0
    out = capsys.readouterr().out
    assert "Phase:          Pending" in out
    assert "Storage class:  GLACIER" in out
    assert f"Not synced:     ObjectArchived: {synced['message']}" in out
    assert f"Synced      False    ObjectArchived   {synced['message']}" in out
    assert "Events: <none>" in out


class Refusing:
    """``CustomObjectsApi`` whose create answers as the API server does for a taken name."""

    def __init__(self, api: Any) -> None:
        pass

    def create_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        error = client.ApiException(status=409, reason="Conflict")
        error.body = json.dumps({"message": f'amirestores.amistore.io "{NAME}" already exists'})
        raise error


def test_a_name_taken_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = cluster.Cluster(api=None, namespace="team", host="http://cluster")
    monkeypatch.setattr(cluster, "connect", lambda *args: api)
    monkeypatch.setattr(client, "CustomObjectsApi", Refusing)
    assert cli.main(["restore", URL]) == 3
    assert capsys.readouterr().err.splitlines() == [
        f'error: amirestore "{NAME}" already exists in namespace "team"'
        " (--resource-name NAME picks another name)"
    ]
