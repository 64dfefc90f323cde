"""The two resource kinds the plugin reads, and ``KIND/NAME`` as kubectl writes it."""

from __future__ import annotations

import dataclasses

from amistore_operator.plugin import errors

GROUP, VERSION = "amistore.io", "v1alpha1"


@dataclasses.dataclass(frozen=True)
class Kind:
    """One custom resource: its names in the API and on the command line."""

    kind: str  # AmiStore
    plural: str  # amistores
    short: str  # ams

    @property
    def singular(self) -> str:
        """As kubectl prints it: ``amistore``."""
        return self.kind.lower()

    @property
    def crd(self) -> str:
        """The CRD's name: ``amistores.amistore.io``."""
        return f"{self.plural}.{GROUP}"

    def names(self) -> tuple[str, ...]:
        """Every way ``KIND/NAME`` may spell this kind."""
        return (self.singular, self.plural, self.short, self.crd, f"{self.singular}.{GROUP}")


AMISTORE = Kind("AmiStore", "amistores", "ams")
AMIRESTORE = Kind("AmiRestore", "amirestores", "amr")
KINDS = (AMISTORE, AMIRESTORE)


def target(text: str) -> tuple[Kind, str]:
    """``NAME`` (an AmiStore), ``amistore/NAME`` or ``amirestore/NAME`` (also ``amr/NAME``)."""
    if "/" not in text:
        return AMISTORE, text
    spelled, name = text.split("/", 1)
    for kind in KINDS:
        if spelled.lower() in kind.names() and name and "/" not in name:
            return kind, name
    if not name or "/" in name:
        raise errors.PluginError(f"{text!r} is not KIND/NAME (e.g. amirestore/NAME)")
    known = ", ".join(kind.singular for kind in KINDS)
    raise errors.PluginError(f'unknown kind "{spelled}" (known: {known})')
