"""Checks of the control API's JSON bodies for the image, reference and object endpoints."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from aiohttp import web

from tests.sandbox.ec2sim import control_api

Body = dict[str, Any]


def bad(message: str) -> NoReturn:
    """Refuse the request with HTTP 400."""
    raise control_api.BadRequestError(message)


def not_found(message: str) -> NoReturn:
    """Answer HTTP 404 with the control API's error shape."""
    raise web.HTTPNotFound(text=json.dumps({"error": message}), content_type="application/json")


def text(body: Body, key: str, default: str | None = None) -> str:
    """A string field (required unless a default is given)."""
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        bad(f"{key} must be a non-empty string")
    return value


def optional_text(body: Body, key: str) -> str | None:
    """A string field that may be null or absent."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        bad(f"{key} must be a string or null")
    return value


def flag(body: Body, key: str) -> bool:
    """A boolean field."""
    value = body.get(key)
    if not isinstance(value, bool):
        bad(f"{key} must be true or false")
    return value


def number(body: Body, key: str, low: float = 0.0) -> float:
    """A number at least ``low``."""
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        bad(f"{key} must be a number of at least {low:g}")
    return float(value)


def whole(value: Any, key: str, low: int = 1) -> int:
    """A whole number at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        bad(f"{key} must be a whole number of at least {low}")
    return value


def strings(body: Body, key: str) -> list[str]:
    """A list of strings."""
    value = body.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad(f"{key} must be a list of strings")
    return list(value)


def choice(value: Any, key: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed``."""
    if value not in allowed:
        bad(f"{key} must be one of {', '.join(allowed)}")
    return str(value)
