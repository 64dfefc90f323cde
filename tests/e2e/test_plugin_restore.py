"""``kubectl amistore restore`` and ``watch amirestore/NAME`` through the real kubectl.

The operator's restore side is not needed: the test creates the AmiRestore with the plugin,
then writes its status itself through the status subresource, as the operator would, and
reads what the plugin shows under a pseudo-terminal and the exit code it ends with.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pexpect
import pytest

from tests.e2e import harness
from tests.e2e.test_plugin import ANSI, amistore, one_error_line, plugin_env
from tests.sandbox import cluster, tools

pytestmark = pytest.mark.e2e

BUCKET = "acme-ami-archive"
KEY = "ami-0123456789abcdef0.bin"
URL = f"s3://{BUCKET}/{KEY}"
IMAGE = "ami-0fedcba9876543210"
CRD_FILE = harness.ROOT / "crds" / "amirestores.amistore.io.yaml"
# Until the AmiRestore CRD lands in crds/: the same names, any spec and status.
MINIMAL_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "amirestores.amistore.io"},
    "spec": {
        "group": "amistore.io",
        "scope": "Namespaced",
        "names": {
            "kind": "AmiRestore",
            "plural": "amirestores",
            "singular": "amirestore",
            "shortNames": ["amr"],
            "categories": ["aws"],
        },
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def restore_crd(sandbox: cluster.Sandbox) -> None:
    """The AmiRestore CRD: the project's once it exists, else a minimal one for these tests
    (left installed, as the session's AmiStore CRD is)."""
    admin = harness.Kubectl(sandbox.kubeconfig)
    if CRD_FILE.exists():
        admin.run("apply", "-f", str(CRD_FILE))
    else:
        admin.apply(json.dumps(MINIMAL_CRD))
    admin.run("wait", "--for=condition=Established", "crd/amirestores.amistore.io", "--timeout=60s")


def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-27T04:00:00Z",
    }


def write_status(kubectl: harness.Kubectl, name: str, **status: Any) -> None:
    """Merge-patch the AmiRestore's status subresource, as the operator does."""
    full = {"observedGeneration": 1, "region": "eu-west-1", **status}
    patch = json.dumps({"status": full})
    kubectl.run("patch", "amirestore", name, "--subresource=status", "--type=merge", "-p", patch)


def on_terminal(sandbox: cluster.Sandbox, *args: str) -> pexpect.spawn:
    """``kubectl amistore ARGS`` under a pseudo-terminal of 30 x 120."""
    return pexpect.spawn(
        tools.kubectl_path(),
        ["amistore", *args],
        env=plugin_env(sandbox.kubeconfig, TERM="xterm-256color", COLUMNS="120"),
        encoding="utf-8",
        dimensions=(30, 120),
        timeout=60,
    )


class Screen:
    """What a program wrote to its terminal, escape codes removed, read until a pattern shows."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child, self.raw, self.mark = child, "", 0

    def text(self) -> str:
        return ANSI.sub("", self.raw)

    def shows(self, pattern: str, timeout: float = 30) -> str:
        """Read until ``pattern`` appears in what came since the last match; return that."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text()[self.mark :])
            if found:
                self.mark += found.end()
                return found.group(0)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} on screen in {timeout}s:\n{self.text()}")
            try:
                self.raw += self.child.read_nonblocking(4096, timeout=min(left, 1))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                raise AssertionError(f"ended before {pattern!r}:\n{self.text()}") from None

    def ended(self) -> int:
        """Wait for the program to exit; its exit code."""
        self.child.expect(pexpect.EOF)
        self.raw += self.child.before
        self.child.close()
        return int(self.child.exitstatus)


@pytest.mark.usefixtures("restore_crd")
def test_restore_wait_follows_it_on_the_terminal_to_available(
    sandbox: cluster.Sandbox, kubectl: harness.Kubectl
) -> None:
    ns = kubectl.namespace
    name = f"restore-{KEY.removesuffix('.bin')}"
    child = on_terminal(sandbox, "-n", ns, "restore", URL, "--ami-name", "golden-back", "--wait")
    screen = Screen(child)
    try:
        screen.shows(rf'amirestore "{name}" created in namespace "{ns}": AMI "golden-back"')
        spec = kubectl.get("amirestore", name)["spec"]
        assert spec == {"bucket": BUCKET, "objectKey": KEY, "name": "golden-back"}
        screen.shows(r"Phase:\s+Unknown")  # no status yet: the watch waits

        write_status(kubectl, name, phase="Pending", imageName="golden-back")
        screen.shows(r"Phase:\s+Pending")
        write_status(
            kubectl,
            name,
            phase="Restoring",
            imageId=IMAGE,
            progressPercentage=40,
            requestedTime="2026-11-27T04:00:00Z",
            objectStorageClass="STANDARD",
        )
        screen.shows(r"Phase:\s+Restoring")
        assert "████████░░░░░░░░░░░░  40%" in screen.shows(r"Progress:\s+\S+\s+\d+%")
        assert screen.shows(rf"Image:\s+{IMAGE} \(golden-back\)")

        write_status(
            kubectl,
            name,
            phase="Available",
            progressPercentage=100,
            completedTime="2026-11-27T04:20:00Z",
            conditions=[condition("Complete", "True", "ImageAvailable", f"{IMAGE} available")],
        )
        assert screen.ended() == 0, screen.text()
    finally:
        child.close(force=True)
    text = screen.text()
    assert re.search(r"Phase:\s+Available", text)
    assert text.rstrip().endswith(f'amirestore "{name}" is Available: {IMAGE} (golden-back)')
    assert "Traceback" not in text

    again = amistore(sandbox.kubeconfig, "-n", ns, "restore", URL)
    assert one_error_line(again) == (
        f'error: amirestore "{name}" already exists in namespace "{ns}"'
        " (--resource-name NAME picks another name)"
    )


@pytest.mark.usefixtures("restore_crd")
def test_watch_of_a_failed_restore_exits_1_and_list_and_status_show_it(
    sandbox: cluster.Sandbox, kubectl: harness.Kubectl
) -> None:
    ns = ["-n", kubectl.namespace]
    created = amistore(
        sandbox.kubeconfig, *ns, "restore", URL, "--resource-name", "broken", "--thaw-days", "2"
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[-1] == (
        f"next: kubectl wait --for=condition=Complete amirestore/broken -n {kubectl.namespace}"
    )
    assert kubectl.get("amirestore", "broken")["spec"]["thaw"] == {"days": 2, "tier": "Standard"}
    reason = "InvalidObject: the object is not an AMI export"
    write_status(
        kubectl,
        "broken",
        phase="Failed",
        imageId=IMAGE,
        progressPercentage=35,
        failureReason=reason,
        conditions=[
            condition("Failed", "True", "ImageFailed", reason),
            condition("Synced", "True", "Polled", "The last AWS poll succeeded"),
        ],
    )

    screen = Screen(on_terminal(sandbox, *ns, "watch", "amr/broken"))
    try:
        assert screen.ended() == 1, screen.text()
    finally:
        screen.child.close(force=True)
    text = screen.text()
    assert re.search(r"Phase:\s+Failed", text)
    assert re.search(rf"Failure:\s+{reason}", text)
    assert text.rstrip().endswith(f'amirestore "broken" has failed: {reason}')

    listed = amistore(sandbox.kubeconfig, *ns, "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split()[:2] == ["NAME", "PHASE"]  # no AmiStore here
    assert listed.stdout.splitlines()[1].split() == [
        "broken",
        "Failed",
        "███████░░░░░░░░░░░░░",
        "35%",
        IMAGE,
        URL,
        "True",
        listed.stdout.splitlines()[1].split()[-1],  # AGE
    ]
    status = amistore(sandbox.kubeconfig, *ns, "status", "amirestore/broken")
    assert status.returncode == 0, status.stderr
    assert re.search(r"Thaw:\s+2 days, Standard", status.stdout)
    assert re.search(rf"Failed\s+True\s+ImageFailed\s+{reason}", status.stdout)
    missing = one_error_line(amistore(sandbox.kubeconfig, *ns, "watch", "amr/nope"))
    assert missing == f'error: amirestore "nope" not found in namespace "{kubectl.namespace}"'
