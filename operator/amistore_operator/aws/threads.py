"""Blocking calls in daemon threads, so a hung call never delays the operator's exit.

``asyncio.to_thread`` uses the loop's default executor, whose threads are joined
when the loop closes and again at interpreter exit: one EC2 call stuck on a slow
endpoint (botocore's read timeout, three attempts) would hold a SIGTERM for a
minute, beyond the 10 seconds the operator promises. A daemon thread is not waited
for; its result is simply dropped when the operator is already stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def run(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` in a new daemon thread and await its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)

    def finish(result: Any, error: BaseException | None) -> None:
        if future.done():
            return  # the awaiting coroutine was cancelled meanwhile
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def work() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = call()
        except BaseException as exc:  # handed to the awaiting coroutine, as to_thread does
            error = exc
        # The loop may be closed by now (the operator stopped): the result has no taker.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(finish, result, error)

    name = f"blocking-{getattr(fn, '__name__', 'call')}"
    threading.Thread(target=work, name=name, daemon=True).start()
    return await future
