"""The real kubectl against the emulator running as a subprocess."""

from __future__ import annotations

import json
import pathlib
import subprocess
from collections.abc import Iterator

import pytest

from tests.sandbox import tools
from tests.sandbox.kubeapi import process

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "kubeapi"


class Kubectl:
    """Runs kubectl with the emulator's kubeconfig."""

    def __init__(self, api: process.KubeApiProcess) -> None:
        self.api = api

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tools.kubectl_path(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.api.env(),
            timeout=60,
            check=False,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def fails(self, *args: str, stdin: str | None = None) -> str:
        result = self.run(*args, stdin=stdin)
        assert result.returncode != 0, result.stdout
        return result.stderr


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    workdir = tmp_path_factory.mktemp("kubeapi")
    # No token: client-go sends kubeconfig credentials only over TLS, never to an http:// server.
    with process.KubeApiProcess(workdir) as api:
        k = Kubectl(api)
        k.ok("apply", "-f", str(FIXTURES / "widgets-crd.yaml"))
        yield k
        assert api.stop() == 0


def widget(name: str, spec: str) -> str:
    return f"apiVersion: example.io/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n{spec}"


def test_apply_creates_with_defaults_and_reapply_is_unchanged(kubectl: Kubectl) -> None:
    assert "created" in kubectl.ok("apply", "-f", "-", stdin=widget("apply1", "  color: red\n"))
    body = json.loads(kubectl.ok("get", "widget", "apply1", "-o", "json"))
    assert body["spec"] == {"color": "red", "size": 10}  # default applied
    assert body["metadata"]["generation"] == 1
    out = kubectl.ok("apply", "-f", "-", stdin=widget("apply1", "  color: red\n"))
    assert "unchanged" in out
    assert "configured" in kubectl.ok("apply", "-f", "-", stdin=widget("apply1", "  color: blue\n"))
    body = json.loads(kubectl.ok("get", "wdg", "apply1", "-o", "json"))
    assert body["metadata"]["generation"] == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "  parts: [part-00zz]\n",
            'spec.parts[0]: Invalid value: "part-00zz": spec.parts[0] in body should match '
            "'^part-[0-9a-f]{4}$'",
        ),
        ("  color: purple\n", 'spec.color: Unsupported value: "purple": supported values: "red"'),
        ("  parts: [part-0001, part-0001]\n", 'spec.parts[1]: Duplicate value: "part-0001"'),
        (
            "  color: black\n  parts: [part-0001]\n",
            "spec: Invalid value: black widgets cannot have parts",
        ),
        ("  size: 0\n", "spec.size in body should be greater than or equal to 1"),
        (
            "  foo: 1\n",
            'Widget in version "v1" cannot be handled as a Widget: '
            'strict decoding error: unknown field "spec.foo"',
        ),
    ],
)
def test_invalid_widgets_are_refused_with_the_apiservers_message(
    kubectl: Kubectl, spec: str, message: str
) -> None:
    stderr = kubectl.fails("apply", "-f", "-", stdin=widget("invalid", spec))
    assert message in stderr
    assert "NotFound" in kubectl.fails("get", "widget", "invalid")


def test_get_renders_printer_columns_and_wide(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", "-", stdin=widget("cols", "  size: 7\n  color: green\n"))
    kubectl.ok(
        "patch",
        "widget",
        "cols",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}',
    )
    lines = kubectl.ok("get", "widgets", "cols").splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "READY", "AGE"]
    name, size, ready, age = lines[1].split()
    assert (name, size, ready) == ("cols", "7", "True")
    assert age.endswith("s") or age.endswith("m")
    wide = kubectl.ok("get", "widgets", "cols", "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "SIZE", "READY", "COLOR", "AGE"]
    assert wide[1].split()[:4] == ["cols", "7", "True", "green"]
    assert "cols" in kubectl.ok("get", "sandbox")  # by category


def test_wait_for_condition_after_status_patch(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", "-", stdin=widget("waiter", "  size: 2\n"))
    result = kubectl.run("wait", "--for=condition=Ready", "widget/waiter", "--timeout=1s")
    assert result.returncode != 0
    out = kubectl.ok(
        "patch",
        "widget",
        "waiter",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Up","conditions":[{"type":"Ready","status":"True"}]}}',
    )
    assert "patched" in out
    assert "condition met" in kubectl.ok(
        "wait", "--for=condition=Ready", "widget/waiter", "--timeout=10s"
    )
    body = json.loads(kubectl.ok("get", "widget", "waiter", "-o", "json"))
    assert body["status"]["phase"] == "Up"
    assert body["metadata"]["generation"] == 1  # status writes never bump it


def test_delete_without_and_with_finalizer(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", "-", stdin=widget("plain", "  size: 1\n"))
    assert "deleted" in kubectl.ok("delete", "widget", "plain", "--timeout=10s")
    assert "NotFound" in kubectl.fails("get", "widget", "plain")

    held = widget("held", "  size: 1\n").replace(
        "metadata:\n", "metadata:\n  finalizers: [example.io/hold]\n"
    )
    kubectl.ok("apply", "-f", "-", stdin=held)
    kubectl.ok("delete", "widget", "held", "--wait=false")
    body = json.loads(kubectl.ok("get", "widget", "held", "-o", "json"))
    assert body["metadata"]["deletionTimestamp"]
    kubectl.ok("patch", "widget", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    assert "NotFound" in kubectl.fails("get", "widget", "held")


def test_namespaces_and_missing_namespace(kubectl: Kubectl) -> None:
    assert "default" in kubectl.ok("get", "namespaces")
    stderr = kubectl.fails("apply", "-n", "nowhere", "-f", "-", stdin=widget("lost", "  size: 1\n"))
    assert 'namespaces "nowhere" not found' in stderr
    kubectl.ok("create", "namespace", "team-a")
    kubectl.ok("apply", "-n", "team-a", "-f", "-", stdin=widget("found", "  size: 1\n"))
    assert "found" in kubectl.ok("get", "widgets", "-A")


def test_crd_with_unique_items_is_refused(kubectl: Kubectl) -> None:
    crd = (FIXTURES / "widgets-crd.yaml").read_text()
    crd = crd.replace("widgets", "gadgets").replace("Widget", "Gadget").replace("wdg", "gdg")
    crd = crd.replace("maxItems: 5", "maxItems: 5\n                  uniqueItems: true")
    stderr = kubectl.fails("apply", "-f", "-", stdin=crd)
    assert (
        "uniqueItems cannot be set to true since the runtime complexity becomes quadratic" in stderr
    )


KUSTOMIZATION = (
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [widget.yaml]\n"
)


def test_a_kustomization_applied_as_an_object_is_refused_as_kube_apiserver_does(
    kubectl: Kubectl, tmp_path: pathlib.Path
) -> None:
    # kubectl validates a kind that OpenAPI v3 lacks against v2, which defines no such kind,
    # so the REST mapping decides: the server serves no kustomize.config.k8s.io group.
    stderr = kubectl.fails("apply", "-f", "-", stdin=KUSTOMIZATION)
    assert (
        'no matches for kind "Kustomization" in version "kustomize.config.k8s.io/v1beta1"' in stderr
    )
    assert "kustomize.config.k8s.io" not in kubectl.ok("api-versions")


@pytest.mark.parametrize(
    ("filename", "applied_with_f"),
    [("kustomization.yaml", False), ("Kustomization", True)],
)
def test_apply_f_of_a_folder_skips_only_an_extensionless_kustomization(
    kubectl: Kubectl, tmp_path: pathlib.Path, filename: str, applied_with_f: bool
) -> None:
    name = f"kust-{len(filename)}"
    (tmp_path / "widget.yaml").write_text(widget(name, "  size: 3\n"))
    (tmp_path / filename).write_text(KUSTOMIZATION)
    result = kubectl.run("apply", "-f", str(tmp_path))
    assert (result.returncode == 0) is applied_with_f, result.stderr
    assert f"widget.example.io/{name} created" in result.stdout  # the object itself is applied
    assert f"widget.example.io/{name} unchanged" in kubectl.ok("apply", "-k", str(tmp_path))
