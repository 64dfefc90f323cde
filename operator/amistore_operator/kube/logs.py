"""Logging set-up: text or JSON lines, and no line per poll at the default level."""

from __future__ import annotations

import logging

import kopf

# kopf logs per-object chatter (a daemon started, a handler succeeded) at INFO on this
# logger; per-object failures still come through at WARNING and above.
_PER_TICK_LOGGERS = ("kopf.objects",)


def configure(*, log_format: str, log_level: str) -> None:
    """Route every log line through kopf's formatters (which know the object each line is about)."""
    fmt = kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL
    level = logging.getLevelName(log_level.upper())
    kopf.configure(
        debug=level <= logging.DEBUG, log_format=fmt, log_prefix=fmt is not kopf.LogFormat.JSON
    )
    logging.getLogger().setLevel(level)
    for name in _PER_TICK_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.DEBUG if level <= logging.DEBUG else logging.WARNING
        )
    # botocore and urllib3 are chatty at DEBUG and would print request details.
    for name in ("botocore", "boto3", "urllib3", "aiohttp.access"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
