"""`python -m tests.sandbox.ec2sim`: serve the simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from tests.sandbox import serving
from tests.sandbox.ec2sim import server


async def serve(args: argparse.Namespace) -> None:
    """Run the server until a stop signal arrives."""
    sim = server.Ec2SimServer(args.host, args.port, throttle=not args.no_throttle)
    await sim.start()
    await serving.until_stopped(sim.url, args.ready_file, f"ec2sim serving on {sim.url}")
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
