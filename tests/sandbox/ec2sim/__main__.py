"""`python -m tests.sandbox.ec2sim`: serve the simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from tests.sandbox.ec2sim import server


def write_ready_file(path: Path, url: str) -> None:
    """Write `{"url", "pid"}` atomically, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    tmp.replace(path)


async def serve(args: argparse.Namespace) -> None:
    """Run the server until a stop signal arrives."""
    sim = server.Ec2SimServer(args.host, args.port, throttle=not args.no_throttle)
    await sim.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.ready_file:
        write_ready_file(Path(args.ready_file), sim.url)
    print(f"ec2sim serving on {sim.url}", flush=True)
    await stop.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse flags and serve."""
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox.ec2sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ready-file", help="write {url, pid} JSON here once listening")
    parser.add_argument("--no-throttle", action="store_true", help="never answer throttling")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
