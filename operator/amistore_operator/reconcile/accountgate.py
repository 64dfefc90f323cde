"""Which AmiStores the account map lets use their account, and what a reload changes.

Before any AWS call the service asks the gate whether the resource's namespace
may use its account (``spec.account``, or the operator's own identity); a denied
resource gets ``Synced=False`` (AccountNotAllowed) and is never handed to the
poller. The gate remembers which resources it denied (and at which generation,
so a denial is reported once), and on a reloaded map tells the service which
resources are denied now and which are allowed again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from amistore_operator.core import accounts

WatchMap = Callable[[Callable[[], None]], Awaitable[None]]


class AccountGate:
    """The account map's verdicts for the service, and the watch that reloads it."""

    def __init__(
        self,
        *,
        account_map: Callable[[], accounts.AccountMap],
        own_account: Callable[[], str],
        watch: WatchMap | None,
    ) -> None:
        self._account_map = account_map
        self._own_account = own_account  # "" until known
        self._watch = watch  # runs for ever, calling back after a reload
        self._watching: asyncio.Future[None] | None = None
        self._denied: dict[str, int] = {}  # the generation whose denial was reported

    def account_of(self, account: str) -> str:
        """The account a resource polls: its ``spec.account``, else the operator's own."""
        return account or self._own_account()

    def spec_account(self, polled: str) -> str:
        """The ``spec.account`` a status's ``account`` (the one polled) stands for.

        ``""`` for the operator's own identity; before STS has named it, any account the
        map does not list is the own one (a resource may poll no other).
        """
        own = self._own_account()
        if own:
            return "" if polled == own else polled
        return polled if self._account_map().entry(polled) is not None else ""

    def denial(self, namespace: str, account: str) -> str | None:
        """Why ``namespace`` may not use ``account`` (``""``: the own identity), or None."""
        return self._account_map().denial(namespace, account)

    def denied_at(self, key: str) -> int | None:
        """The generation whose denial was reported for ``key``, if it is denied."""
        return self._denied.get(key)

    def deny(self, key: str, generation: int) -> None:
        """Remember that ``key`` was denied at ``generation``."""
        self._denied[key] = generation

    def allow(self, key: str) -> None:
        """``key`` may poll (or is gone): forget its denial."""
        self._denied.pop(key, None)

    def reloaded(self, resources: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
        """For (key, account) pairs: the keys denied now, and the denied keys allowed again."""
        current = self._account_map()
        newly_denied, allowed = [], []
        for key, account in resources:
            denied = current.denial(key.partition("/")[0], account) is not None
            if denied and key not in self._denied:
                newly_denied.append(key)
            elif not denied and key in self._denied:
                allowed.append(key)
        return newly_denied, allowed

    def start(self, on_reload: Callable[[], None]) -> None:
        """Start watching the map (once, from the event loop)."""
        if self._watch is not None and self._watching is None:
            self._watching = asyncio.ensure_future(self._watch(on_reload))

    async def close(self) -> None:
        """Stop watching the map."""
        if self._watching is not None:
            self._watching.cancel()
            await asyncio.gather(self._watching, return_exceptions=True)
