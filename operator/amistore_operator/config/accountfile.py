"""The account map's file (``--accounts``): read at start, re-read when its content changes.

A ConfigMap mounted as a directory changes by the kubelet swapping a ``..data``
symlink, never by writing the file in place, so watching the file's inode or
mtime misses it: the content is read again every few seconds and compared by
hash. A malformed file at start stops the operator with one line; a malformed
reload keeps the last good map and logs why, once per bad content. Parsing
and the allow decision are ``core.accounts``'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import pathlib
from collections.abc import Callable

import yaml

from amistore_operator.config import settingvalues
from amistore_operator.core import accounts

logger = logging.getLogger(__name__)

# How often the content is compared; the kubelet itself takes up to about a minute.
CHECK_SECONDS = 10.0


class AccountFile:
    """The current account map: the file's last good content (``NO_MAP`` without a file)."""

    def __init__(self, path: str = "") -> None:
        self.path = path
        self.current = accounts.NO_MAP
        self._digest = b""
        self._problem = ""
        if path:
            data = self._read()
            try:
                self.current = accounts.parse(_load(data))
            except accounts.AccountMapError as exc:
                raise settingvalues.SettingsError(f"--accounts {path}: {exc}") from None
            self._digest = hashlib.sha256(data).digest()

    def map(self) -> accounts.AccountMap:
        """The map in force."""
        return self.current

    def check(self) -> bool:
        """Re-read the file; True when a changed, valid map replaced the current one."""
        if not self.path:
            return False
        try:
            data = self._read()
        except settingvalues.SettingsError as exc:
            self._warn(str(exc))
            return False
        digest = hashlib.sha256(data).digest()
        if digest == self._digest:
            self._problem = ""
            return False
        try:
            fresh = accounts.parse(_load(data))
        except accounts.AccountMapError as exc:
            self._warn(f"--accounts {self.path}: {exc}")
            return False
        self._digest, self._problem = digest, ""
        if fresh == self.current:
            return False
        self.current = fresh
        logger.info(
            "Account map reloaded from %s: %d accounts, own identity for %s",
            self.path,
            len(fresh.accounts),
            ", ".join(fresh.default_namespaces) or "no namespace",
        )
        return True

    async def watch(self, on_change: Callable[[], None], every: float = CHECK_SECONDS) -> None:
        """Check the file every ``every`` seconds, calling ``on_change`` after a reload."""
        if not self.path:
            return
        while True:
            await asyncio.sleep(every)
            if self.check():
                on_change()

    def _read(self) -> bytes:
        try:
            return pathlib.Path(self.path).read_bytes()
        except OSError as exc:
            raise settingvalues.SettingsError(
                f"--accounts {self.path}: cannot read it ({exc.strerror or exc})"
            ) from None

    def _warn(self, problem: str) -> None:
        if problem != self._problem:  # once per problem, not every check
            logger.warning("Account map not reloaded, keeping the last good one: %s", problem)
            self._problem = problem


def _load(data: bytes) -> object:
    try:
        return yaml.safe_load(data)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()
        raise accounts.AccountMapError(f"not valid YAML: {' '.join(first)}") from None
