"""One JSON request to a sandbox control endpoint (the emulator's or the simulator's)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def call(url: str, method: str, body: Any = None, timeout: float = 10.0) -> Any:
    """Send ``body`` as JSON (if any) and return the decoded JSON answer.

    Raises ``urllib.error.HTTPError`` for an error status, as ``urlopen`` does.
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())
