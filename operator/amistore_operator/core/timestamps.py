"""RFC 3339 timestamps as the status writes and reads them."""

from __future__ import annotations

import datetime
from typing import Any


def format_time(moment: datetime.datetime) -> str:
    """Render ``moment`` as RFC 3339 UTC with whole seconds: ``2026-11-27T04:00:00Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp from a status; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
