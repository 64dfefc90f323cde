"""``python -m tests.sandbox.kubeapi --host H --port P [--token T] [--ready-file PATH]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import signal

from tests.sandbox.kubeapi import server


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox.kubeapi")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None)
    parser.add_argument("--ready-file", default=None)
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--history-size", type=int, default=10_000)
    return parser.parse_args(argv)


def _write_ready(path: str, url: str) -> None:
    target = pathlib.Path(path)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    temp.replace(target)  # readers never see half a file


async def _serve(args: argparse.Namespace) -> None:
    api = server.KubeApiServer(
        args.host, args.port, args.token, args.bookmark_interval, args.history_size
    )
    await api.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.ready_file:
        _write_ready(args.ready_file, api.url)
    print(f"kubeapi serving at {api.url}", flush=True)
    await stop.wait()
    await api.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; exit 0."""
    asyncio.run(_serve(_parse(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
