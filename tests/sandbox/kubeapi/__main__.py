"""``python -m tests.sandbox.kubeapi --host H --port P [--token T] [--ready-file PATH] [--crd F]``.

``--crd FILE`` (repeatable) installs the CRDs in FILE at start, as a real
apiserver's etcd keeps them across a restart; objects are never kept.
``--initial-resource-version N`` starts numbering after N with no history
before it, so clients of a previous run re-list (410 Gone) as after a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib

import yaml

from tests.sandbox import serving
from tests.sandbox.kubeapi import discovery, server


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox.kubeapi")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None)
    parser.add_argument("--ready-file", default=None)
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--history-size", type=int, default=10_000)
    parser.add_argument("--crd", action="append", default=[], metavar="FILE")
    parser.add_argument("--initial-resource-version", type=int, default=0, metavar="N")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace, crds: list[dict[str, object]]) -> None:
    api = server.KubeApiServer(
        args.host, args.port, args.token, args.bookmark_interval, args.history_size
    )
    if args.initial_resource_version:
        # A restart continues etcd's numbering; older history is gone (watches get 410).
        store = api.cluster.store
        store.rv = store.compacted_rv = args.initial_resource_version
    for crd in crds:
        api.cluster.create(discovery.CRDS, "", crd, "Strict")
    await api.start()
    await serving.until_stopped(api.url, args.ready_file, f"kubeapi serving at {api.url}")
    await api.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; exit 0."""
    args = _parse(argv)
    crds = [
        doc
        for path in args.crd
        for doc in yaml.safe_load_all(pathlib.Path(path).read_text())
        if doc
    ]
    asyncio.run(_serve(args, crds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
