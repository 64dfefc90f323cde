"""Our AWS clients with botocore's Stubber in place of AWS, for the aws/ tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

from botocore.stub import Stubber


class _Wrapper(Protocol):
    """One of our clients: a boto3 client of its own in ``client``."""

    @property
    def client(self) -> Any: ...


W = TypeVar("W", bound=_Wrapper)


@contextlib.contextmanager
def stubbed(wrapper: W) -> Iterator[tuple[W, Stubber]]:
    """``wrapper`` answered by a Stubber; every answer queued on it must have been asked for."""
    with Stubber(wrapper.client) as stubber:
        yield wrapper, stubber
        stubber.assert_no_pending_responses()
