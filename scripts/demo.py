"""``make demo``: the operator tracking real-looking AMI exports on the local sandbox.

Brings up the sandbox (the real kube-apiserver and etcd when ``make realkube`` has built
them, else the Kubernetes API emulator; ``AMISTORE_DEMO_KUBE=emulator|real`` chooses; and
the EC2 simulator), installs the CRD,
scripts three store tasks in EC2, starts ``amistore-operator``, applies ``examples/``,
shows ``kubectl get amistores -o wide`` as the exports progress, prints a metrics
excerpt, starts the one missing export and follows it with ``kubectl amistore watch``
(the plugin), then stops everything it started.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e import harness  # noqa: E402
from tests.sandbox import cluster, realkube, tools  # noqa: E402
from tests.sandbox.ec2sim import control  # noqa: E402

EXAMPLES = ROOT / "examples"
POLL_SECONDS = 5
DEADLINE_SECONDS = 150


def step(text: str) -> None:
    """One clear line of what is happening."""
    print(f"\n==> {text}", flush=True)


def script_ec2(ec2: control.Ec2SimControl) -> None:
    """Three exports as the examples describe them, at a pace a demo can watch."""
    ec2.create_task("ami-0a1b2c3d4e5f60718", "acme-ami-archive", duration_seconds=40)
    ec2.create_task(
        "ami-0fedcba9876543210",
        "acme-locked-bucket",
        duration_seconds=60,
        fail_at_percent=35,
        failure_reason=(
            "Access Denied: EC2 cannot write to bucket acme-locked-bucket "
            "(check the bucket policy grants s3:PutObject)"
        ),
    )
    ec2.create_task("ami-01111111111111111", "acme-ami-archive", duration_seconds=30)
    ec2.create_task("ami-02222222222222222", "acme-ami-archive", duration_seconds=55)
    # ami-03333333333333333 exists but nobody started its export: it stays Pending.
    ec2.register_amis(["ami-03333333333333333"])


def done(kubectl: harness.Kubectl) -> bool:
    """The single export completed and the broken one failed."""
    states = {
        name: kubectl.status(name).get("state")
        for name in ("golden-image", "legacy-image", "release-2026-11")
    }
    return (
        states["golden-image"] == "Completed"
        and states["legacy-image"] == "Failed"
        and states["release-2026-11"] == "Pending"
    )


def watch_with_plugin(sandbox: cluster.Sandbox, name: str) -> int:
    """``kubectl amistore watch NAME``: live bars on a terminal, plain lines otherwise."""
    venv_bin = pathlib.Path(sys.executable).parent
    env = {
        **os.environ,
        "KUBECONFIG": str(sandbox.kubeconfig),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [tools.kubectl_path(), "amistore", "watch", name, "--timeout", "90s"]
    code = subprocess.run(command, env=env, check=False).returncode
    print(f"    kubectl amistore watch exited with code {code} (0: Complete)")
    return code


def main() -> int:
    """Run the demo; return non-zero if the exports did not end as scripted."""
    started = time.monotonic()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="amistore-demo-"))
    kube = os.environ.get("AMISTORE_DEMO_KUBE") or ("real" if realkube.built() else "emulator")
    what = "kube-apiserver and etcd" if kube == "real" else "the Kubernetes API emulator"
    step(f"Starting the sandbox: {what} and the EC2 simulator on loopback")
    with cluster.running(workdir / "sandbox", kube=kube) as sandbox:
        env = sandbox.operator_env()  # on the real server: the operator's service account
        kubectl = harness.Kubectl(sandbox.kubeconfig)
        print(f"    kubeconfig: {sandbox.kubeconfig}")

        step("Installing the AmiStore CRD with kubectl apply")
        print(kubectl.run("apply", "-k", str(ROOT / "crds")).stdout.rstrip())
        kubectl.run("wait", "--for=condition=Established", "crd/amistores.amistore.io")

        step("Scripting EC2: one export completes, one fails at 35%, one AMI has no task")
        ec2 = control.Ec2SimControl(sandbox.ec2_url)
        script_ec2(ec2)

        step(f"Starting amistore-operator (poll interval {POLL_SECONDS}s, region eu-west-1)")
        operator = harness.OperatorProcess(
            env,
            ["--all-namespaces", "--poll-interval", str(POLL_SECONDS)],
            workdir / "operator.log",
        )
        try:
            operator.wait_ready()
            step("Applying examples/")
            print(kubectl.run("apply", "-f", str(EXAMPLES)).stdout.rstrip())

            step("Watching the exports: kubectl get amistores -o wide")
            while True:
                print(f"--- t+{time.monotonic() - started:.0f}s")
                print(kubectl.run("get", "amistores", "-o", "wide").stdout.rstrip(), flush=True)
                if done(kubectl):
                    break
                if time.monotonic() - started > DEADLINE_SECONDS:
                    print("the exports did not finish in time; operator log tail:")
                    print(operator.logs()[-3000:])
                    return 1
                time.sleep(POLL_SECONDS)

            step("kubectl wait --for=condition=Complete amistore/golden-image")
            print(
                kubectl.run(
                    "wait", "--for=condition=Complete", "amistore/golden-image", "--timeout=30s"
                ).stdout.rstrip()
            )

            step("Why legacy-image failed (status and Events)")
            failed = kubectl.status("legacy-image")["tasks"][0]
            print(f"    {failed['amiId']}: {failed.get('failureReason')}")
            print(
                kubectl.run(
                    "get",
                    "events",
                    "--field-selector",
                    "involvedObject.name=legacy-image",
                    "-o",
                    "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
                ).stdout.rstrip()
            )

            step("Metrics excerpt (GET /metrics)")
            for line in operator.metrics().splitlines():
                if line.startswith(
                    ("amistore_task_state", "amistore_task_progress", "amistore_task_failure")
                ) and not line.endswith(" 0.0"):
                    print(f"    {line}")

            step("Starting the missing export; kubectl amistore watch release-2026-11")
            ec2.create_task("ami-03333333333333333", "acme-ami-archive", duration_seconds=25)
            if watch_with_plugin(sandbox, "release-2026-11") != 0:
                return 1
        finally:
            step("Stopping the operator (SIGTERM) and the sandbox")
            code = operator.stop()
            print(f"    operator exited with code {code}")
    shutil.rmtree(workdir, ignore_errors=True)
    step(f"Done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
