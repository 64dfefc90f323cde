"""The naive baseline: one DescribeStoreImageTasks call per AmiStore per interval, status always.

What a first operator would do: for every resource, every interval, ask EC2
about its AMIs and PATCH the result into its status, changed or not. boto3 and
plain HTTP; botocore retries off, so each resource costs exactly one call.

    python -m bench.naive --kube-url URL [--namespace bench] [--interval 60] [--intervals 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import threading
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

GROUP_PATH = "/apis/amistore.io/v1alpha1"


def list_amistores(kube_url: str, namespace: str) -> list[dict[str, Any]]:
    """Every AmiStore in ``namespace``."""
    url = f"{kube_url}{GROUP_PATH}/namespaces/{namespace}/amistores"
    with urllib.request.urlopen(url, timeout=120) as resp:
        return list(json.loads(resp.read())["items"])


def patch_status(kube_url: str, namespace: str, name: str, status: dict[str, Any]) -> None:
    """A merge patch of the status subresource."""
    url = f"{kube_url}{GROUP_PATH}/namespaces/{namespace}/amistores/{name}/status"
    req = urllib.request.Request(
        url,
        data=json.dumps({"status": status}).encode(),
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json", "User-Agent": "naive-baseline"},
    )
    with urllib.request.urlopen(req, timeout=60):
        pass


class Naive:
    """The per-resource loop body, shared by the worker threads."""

    def __init__(self, kube_url: str, namespace: str) -> None:
        self.kube_url = kube_url
        self.namespace = namespace
        self._local = threading.local()

    def _ec2(self) -> Any:
        client = getattr(self._local, "ec2", None)
        if client is None:
            config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
            client = self._local.ec2 = boto3.session.Session().client("ec2", config=config)
        return client

    def poll(self, obj: dict[str, Any]) -> None:
        """Describe this resource's AMIs and write its status, whatever came back."""
        name = obj["metadata"]["name"]
        ids = list(obj.get("spec", {}).get("imageIds") or [])
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            answer = self._ec2().describe_store_image_tasks(ImageIds=ids)
            tasks = [
                {
                    "amiId": t.get("AmiId"),
                    "state": t.get("StoreTaskState"),
                    "progressPercentage": int(t.get("ProgressPercentage", 0)),
                }
                for t in answer.get("StoreImageTaskResults", [])
            ]
            status: dict[str, Any] = {"tasks": tasks, "lastPollTime": now}
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            status = {"lastPollTime": now, "error": str(code)}
        patch_status(self.kube_url, self.namespace, name, status)


def run(
    kube_url: str, namespace: str, interval: float, intervals: int, workers: int
) -> list[float]:
    """Poll every AmiStore once per interval for ``intervals`` intervals; each pass's seconds.

    A pass that takes longer than the interval starts the next at once, so the
    baseline's real interval is the longer of the two.
    """
    naive = Naive(kube_url, namespace)
    passes: list[float] = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for _ in range(intervals):
            started = time.monotonic()
            items = list_amistores(kube_url, namespace)
            list(pool.map(naive.poll, items))
            passes.append(time.monotonic() - started)
            time.sleep(max(0.0, interval - passes[-1]))
    return passes


def passes_line(passes: Sequence[float]) -> str:
    """The last line of the output: each pass's seconds, as JSON."""
    return json.dumps({"pass_seconds": [round(s, 2) for s in passes]})


def read_passes(output: str) -> list[float]:
    """Each pass's seconds from the baseline's output ([] if it printed none: it failed)."""
    for line in reversed(output.splitlines()):
        if line.startswith('{"pass_seconds"'):
            return [float(s) for s in json.loads(line)["pass_seconds"]]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__)
    parser.add_argument("--kube-url", required=True)
    parser.add_argument("--namespace", default="bench")
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--intervals", type=int, default=2)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    passes = run(args.kube_url, args.namespace, args.interval, args.intervals, args.workers)
    print(passes_line(passes), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
