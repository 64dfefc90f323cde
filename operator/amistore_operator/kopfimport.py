"""kopf without the official ``kubernetes`` client it would otherwise load as it is imported.

kopf imports ``kubernetes`` (and ``kubernetes_asyncio``) at import time when installed, in
``kopf._cogs.helpers.thirdparty``, only to recognise that client's objects when handed
one (``kopf.adopt`` and the like); the operator never hands it any. Loading the client
costs the operator about 55 MiB. It is installed (the kubectl plugin needs it), so this
finder makes it look absent to that one kopf module, as before it was a dependency. Code
that needs the client still imports it as usual: ``kopf.login_via_client`` for a
kubeconfig that logs in through a plugin (``kubelogin``), and the kubectl plugin.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

CLIENTS = ("kubernetes", "kubernetes_asyncio")
KOPF_OPTIONAL_IMPORTS = "kopf._cogs.helpers.thirdparty"


class HideClientsFromKopf(importlib.abc.MetaPathFinder):
    """Fail the client's import when kopf's optional-imports module asks for it."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """Raise ModuleNotFoundError for the clients imported from kopf's thirdparty module."""
        if fullname.partition(".")[0] not in CLIENTS:
            return None
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_globals.get("__name__") == KOPF_OPTIONAL_IMPORTS:
                raise ModuleNotFoundError(f"{fullname} is not loaded for kopf", name=fullname)
            frame = frame.f_back  # type: ignore[assignment]
        return None


def install() -> None:
    """Put the finder first, once, unless kopf is already imported."""
    if "kopf" in sys.modules or any(isinstance(f, HideClientsFromKopf) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, HideClientsFromKopf())
