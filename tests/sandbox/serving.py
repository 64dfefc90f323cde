"""How the sandbox's servers run as processes: announce where they listen, serve until stopped.

The ready file (``{"url", "pid"}`` JSON, written atomically) is how ``cluster`` and
the tests learn a server's free port; SIGTERM or SIGINT ends it cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal


def write_ready_file(path: pathlib.Path, url: str) -> None:
    """Write ``{"url", "pid"}`` atomically, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    tmp.replace(path)


async def until_stopped(url: str, ready_file: str | None, banner: str) -> None:
    """Once a server listens at ``url``: announce it, then return on SIGTERM or SIGINT.

    The signal handlers are in place before the ready file appears, so a reader may
    stop the server as soon as it sees the file.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready_file:
        write_ready_file(pathlib.Path(ready_file), url)
    print(banner, flush=True)
    await stop.wait()
