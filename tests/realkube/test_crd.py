"""The CRD on the real API server: accepted with its CEL rules, validation as kubectl shows it,
printer columns, ``kubectl wait``, and the status schema pruning what it does not declare.

No operator runs here: the status is written with ``kubectl patch --subresource=status``,
as the operator's patches are, so each test says what the server itself does.
"""

from __future__ import annotations

import datetime
import pathlib
import subprocess
from typing import Any

import pytest
import yaml

from tests.e2e import harness
from tests.sandbox import cluster, tools

pytestmark = pytest.mark.realkube

CRD_FILE = harness.ROOT / "crds" / "amistores.amistore.io.yaml"
AMI = "ami-0123456789abcdef0"
OTHER = "ami-0fedcba987654321f"
NOT_CHECKED = (
    "* <nil>: Invalid value: null: some validation rules were not checked because the object "
    "was invalid; correct the existing errors to complete validation"
)


def test_the_crd_is_accepted_and_its_cel_cost_is_checked(
    kubectl: harness.Kubectl, tmp_path: pathlib.Path
) -> None:
    crd = kubectl.get("crd", "amistores.amistore.io")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert crd["status"]["acceptedNames"]["shortNames"] == ["ams"]
    # The server validates the CRD as shipped again, CEL rules and their cost included.
    shipped = kubectl.run("apply", "--dry-run=server", "-f", str(CRD_FILE))
    assert "unchanged (server dry run)" in shipped.stdout
    assert shipped.stderr == ""

    # The cost estimate is real: a rule quadratic in the tags is affordable only within the
    # shipped bounds (maxProperties, maxLength), and refused without them.
    def variant(name: str, bounded: bool) -> str:
        doc = yaml.safe_load(CRD_FILE.read_text())
        props = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        tags = props["spec"]["properties"]["s3ObjectTags"]
        tags["x-kubernetes-validations"][0]["rule"] = "self.all(k, self.all(j, k == j || k != j))"
        if not bounded:
            del tags["maxProperties"]
            del tags["additionalProperties"]["maxLength"]
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc))
        return str(path)

    assert kubectl.run("apply", "--dry-run=server", "-f", variant("bounded.yaml", True))
    unbounded = kubectl.run(
        "apply", "--dry-run=server", "-f", variant("unbounded.yaml", False), check=False
    )
    assert unbounded.returncode != 0
    assert (
        "spec.validation.openAPIV3Schema.properties[spec].properties[s3ObjectTags]"
        ".x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget"
    ) in unbounded.stderr


# What ``kubectl apply`` prints for each invalid spec; the emulator's self-tests
# (tests/sandbox_tests/test_kubeapi_parity.py) hold it to the same words.
TAGS = {"imageIds": [AMI], "bucket": "acme", "createTasks": True, "s3ObjectTags": {"aws:x": ""}}
INVALID_SPECS = [
    pytest.param(
        {"imageIds": ["ami-12"]},
        'The AmiStore "bad" is invalid: spec.imageIds[0]: Invalid value: "ami-12": '
        "spec.imageIds[0] in body should match '^ami-([0-9a-f]{8}|[0-9a-f]{17})$'",
        id="pattern",
    ),
    pytest.param(
        {"imageIds": [AMI, AMI]},
        f'The AmiStore "bad" is invalid: spec.imageIds[1]: Duplicate value: "{AMI}"',
        id="duplicate",
    ),
    pytest.param(
        {"imageIds": [f"ami-{i:017x}" for i in range(1001)]},
        'The AmiStore "bad" is invalid: \n'
        "* spec.imageIds: Too many: 1001: must have at most 1000 items\n" + NOT_CHECKED,
        id="maxItems",
    ),
    pytest.param(
        {"taskStates": ["Bogus"]},
        'The AmiStore "bad" is invalid: \n'
        '* spec.taskStates[0]: Unsupported value: "Bogus": supported values: '
        '"InProgress", "Completed", "Failed"\n' + NOT_CHECKED,
        id="enum",
    ),
    pytest.param(
        {"imageIds": [AMI], "taskStates": ["Failed"]},
        'The AmiStore "bad" is invalid: spec: Invalid value: taskStates can only be used '
        "without imageIds (AWS ignores filters when ImageIds is given)",
        id="cel-taskStates",
    ),
    pytest.param(
        {"imageIds": [AMI], "createTasks": True},
        'The AmiStore "bad" is invalid: spec: Invalid value: createTasks needs imageIds '
        "(the AMIs to export) and bucket (where to export them)",
        id="cel-createTasks",
    ),
    pytest.param(
        TAGS,
        'The AmiStore "bad" is invalid: spec.s3ObjectTags: Invalid value: s3ObjectTags keys '
        "must be 1 to 128 characters and must not start with aws:",
        id="cel-tags",
    ),
    pytest.param(
        {"pollIntervalSeconds": 1},
        'The AmiStore "bad" is invalid: spec.pollIntervalSeconds: Invalid value: 1: '
        "spec.pollIntervalSeconds in body should be greater than or equal to 5",
        id="minimum",
    ),
    pytest.param(
        {"pollIntervalSeconds": "soon"},
        'The AmiStore "bad" is invalid: \n'
        '* spec.pollIntervalSeconds: Invalid value: "string": spec.pollIntervalSeconds in '
        'body must be of type integer: "string"\n' + NOT_CHECKED,
        id="type",
    ),
    pytest.param(
        {"bucket": "A"},  # too short and not the pattern: only the first is said
        'The AmiStore "bad" is invalid: spec.bucket: Invalid value: "A": '
        "spec.bucket in body should be at least 3 chars long",
        id="first-string-error",
    ),
    pytest.param(
        {"frobnicate": 1},
        'Error from server (BadRequest): error when creating "STDIN": AmiStore in version '
        '"v1alpha1" cannot be handled as a AmiStore: strict decoding error: '
        'unknown field "spec.frobnicate"',
        id="unknown-field",
    ),
]


@pytest.mark.parametrize(("spec", "message"), INVALID_SPECS)
def test_invalid_specs_are_refused_with_the_servers_words(
    kubectl: harness.Kubectl, spec: dict[str, Any], message: str
) -> None:
    """What the user reads from ``kubectl apply``; the emulator says the same (its tests)."""
    result = kubectl.run("apply", "-f", "-", stdin=harness.amistore("bad", **spec), check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert kubectl.run("get", "amistore", "bad", check=False).returncode == 1


def condition(kind: str, status: str, reason: str) -> dict[str, str]:
    """A metav1.Condition as the operator writes it."""
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def iso(moment: datetime.datetime) -> str:
    """RFC 3339 in UTC, seconds."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_printer_columns_narrow_and_wide_as_kubectl_renders_them(
    kubectl: harness.Kubectl,
) -> None:
    kubectl.apply(harness.amistore("cols", imageIds=[AMI, OTHER], bucket="acme-archive"))
    now = datetime.datetime.now(datetime.UTC)
    eta = iso(now + datetime.timedelta(hours=2))
    kubectl.write_status(
        "cols",
        {
            "state": "InProgress",
            "progressPercentage": 42,
            "tasksCompleted": 1,
            "tasksFailed": 0,
            "tasksTotal": 2,
            "region": "eu-west-1",
            "account": "123456789012",
            "lastPollTime": iso(now - datetime.timedelta(seconds=90)),
            "estimatedCompletionTime": eta,
            "conditions": [condition("Synced", "True", "Polled")],
        },
    )
    narrow = kubectl.run("get", "amistores").stdout.splitlines()
    assert narrow[0].split() == ["NAME", "STATE", "PROGRESS", "COMPLETED", "FAILED", "TOTAL", "AGE"]
    assert narrow[1].split()[:6] == ["cols", "InProgress", "42", "1", "0", "2"]
    wide = kubectl.run("get", "ams", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == [
        *("NAME", "STATE", "PROGRESS", "COMPLETED", "FAILED", "TOTAL", "AGE"),
        *("REGION", "BUCKET", "ACCOUNT", "SYNCED", "LAST", "POLL", "ETA"),
    ]
    row = wide[1].split()
    assert row[7:11] == ["eu-west-1", "acme-archive", "123456789012", "True"]
    # A date column is an age that kubectl works out; the ETA is a string column, since a
    # date column shows <invalid> for a time in the future.
    assert row[11].endswith("s")
    assert 90 <= int(row[11][:-1]) < 120, row  # kubectl shows seconds below two minutes
    assert row[12] == eta


def test_kubectl_wait_for_a_condition_is_met_when_the_status_says_so(
    kubectl: harness.Kubectl, real_sandbox: cluster.Sandbox
) -> None:
    audit = real_sandbox.audit
    assert audit is not None
    since = audit.mark()
    kubectl.apply(harness.amistore("waited", imageIds=[AMI]))
    kubectl.write_status("waited", {"conditions": [condition("Complete", "False", "Pending")]})
    # kubectl waits on a watch: it must see the later write, not just the first read.
    waiting = subprocess.Popen(
        [
            tools.kubectl_path(),
            "--kubeconfig",
            str(kubectl.kubeconfig),
            "-n",
            kubectl.namespace,
            "wait",
            "--for=condition=Complete",
            "amistore/waited",
            "--timeout=30s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # kubectl's first read saw Complete=False; once its watch is open, the condition comes.
        harness.wait_until(
            lambda: [
                r
                for r in audit.requests(since)
                if r.verb == "watch"
                and r.resource == "amistores"
                and r.namespace == kubectl.namespace
                and r.user_agent.startswith("kubectl")
            ],
            timeout=30,
            what="kubectl wait's watch",
        )
        assert waiting.poll() is None
        kubectl.write_status(
            "waited", {"conditions": [condition("Complete", "True", "AllCompleted")]}
        )
        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 0, err
    assert out.strip() == "amistore.amistore.io/waited condition met"

    failed = kubectl.run(
        "wait", "--for=condition=Failed", "amistore/waited", "--timeout=2s", check=False
    )
    assert failed.returncode == 1
    assert "timed out waiting for the condition on amistores/waited" in failed.stderr


def test_the_status_keeps_only_what_its_schema_declares(kubectl: harness.Kubectl) -> None:
    kubectl.apply(harness.amistore("pruned", imageIds=[AMI]))
    entry = {"amiId": AMI, "state": "Completed", "progressPercentage": 100, "color": "blue"}
    kubectl.write_status("pruned", {"state": "Completed", "bogus": 1, "tasks": [entry]})
    status = kubectl.status("pruned")
    assert status == {
        "state": "Completed",
        "tasks": [{"amiId": AMI, "state": "Completed", "progressPercentage": 100}],
    }
    # Writing the same undeclared field again changes nothing: no new resourceVersion, so a
    # writer comparing what it sent with what it reads would write forever.
    version = kubectl.get("amistore", "pruned")["metadata"]["resourceVersion"]
    kubectl.write_status("pruned", {"bogus": 2})
    assert kubectl.get("amistore", "pruned")["metadata"]["resourceVersion"] == version
