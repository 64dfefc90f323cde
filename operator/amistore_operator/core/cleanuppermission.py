"""What the operator's flags allow cleanup: ``--allow-deregister``, ``--deregister-namespaces``.

Pure, like ``exportready.Permission``: built once from the settings, asked right before
each ``DeregisterImage`` whether the resource's namespace may deregister at all.
"""

from __future__ import annotations

import dataclasses

from amistore_operator.core import exportready

DEREGISTER_NOT_ALLOWED = "DeregisterNotAllowed"


@dataclasses.dataclass(frozen=True)
class Permission:
    """The cleanup flags: off by default; on, for the namespaces matching the patterns."""

    allow_deregister: bool = False
    deregister_namespaces: tuple[str, ...] = ("*",)  # shell-style patterns

    def refusal(self, namespace: str) -> tuple[str, str] | None:
        """The ``Archived=False`` reason and message refusing ``namespace``; None: allowed."""
        if not self.allow_deregister:
            return (
                DEREGISTER_NOT_ALLOWED,
                "The operator does not deregister AMIs (it runs without --allow-deregister)",
            )
        if not exportready.matches_any(namespace, self.deregister_namespaces):
            return (
                DEREGISTER_NOT_ALLOWED,
                f'Namespace "{namespace}" matches none of the operator\'s --deregister-namespaces',
            )
        return None
