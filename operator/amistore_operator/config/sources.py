"""Where a setting is read from: its flag, else its ``AMISTORE_*`` variable, else its default.

``Sources`` holds the parsed command line and the environment ``settings.load`` reads, with
the plain rule (``pick``) and the settings that have rules of their own: the namespaces
(a flag that excludes another), the switches, the pattern lists and the region (three
variables).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import TypeVar

from amistore_operator.config import settingvalues as values
from amistore_operator.core import spec

T = TypeVar("T")

SettingsError = values.SettingsError


class Sources:
    """The command line's flags (every one None unless given) and the environment."""

    def __init__(self, args: argparse.Namespace, environ: Mapping[str, str]) -> None:
        self.args = args
        self.environ = environ

    def pick(self, flag: str, env: str, parse: Callable[[str, str], T], default: T) -> T:
        """The flag's value, else the variable's, else ``default``; ``parse`` names the source."""
        value = getattr(self.args, _dest(flag))
        if value is not None:
            return parse(flag, value)
        if env in self.environ:
            return parse(env, self.environ[env])
        return default

    def namespaces(self) -> tuple[str, ...]:
        """The namespaces to watch; empty: all of them."""
        args, environ = self.args, self.environ
        if args.namespace and args.all_namespaces:
            raise SettingsError("--all-namespaces: cannot be combined with --namespace")
        if args.all_namespaces:
            return ()
        if args.namespace:
            return values.namespace_list("--namespace", args.namespace)
        every = values.boolean(
            "AMISTORE_ALL_NAMESPACES", environ.get("AMISTORE_ALL_NAMESPACES", "")
        )
        listed = [n.strip() for n in environ.get("AMISTORE_NAMESPACE", "").split(",") if n.strip()]
        if every and listed:
            raise SettingsError(
                "AMISTORE_ALL_NAMESPACES: cannot be true when AMISTORE_NAMESPACE is set"
            )
        return values.namespace_list("AMISTORE_NAMESPACE", listed)

    def switch(self, flag: str, env: str) -> bool:
        """A flag that turns something on, else its variable (true or false), else off."""
        if getattr(self.args, _dest(flag)):
            return True
        return values.boolean(env, self.environ.get(env, ""))

    def patterns(self, flag: str, env: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """Shell-style patterns of a repeatable, comma-separated flag or of its variable."""
        given = getattr(self.args, _dest(flag))
        if given is not None:
            return values.patterns(flag, given)
        if env in self.environ:
            return values.patterns(env, [self.environ[env]])
        return default

    def region(self) -> str:
        """The default AWS region: ``--region``, else the first of its variables that is set."""
        flag: str | None = self.args.region
        candidates = [("--region", flag)] + [
            (name, self.environ.get(name))
            for name in ("AMISTORE_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
        ]
        for source, value in candidates:
            if value:
                if not spec.is_valid_region(value):
                    raise SettingsError(
                        f'{source}: "{value}" is not an AWS region name (such as eu-west-1)'
                    )
                return value
        raise SettingsError("no AWS region: set --region, AMISTORE_REGION or AWS_REGION")


def _dest(flag: str) -> str:
    """The attribute argparse stores ``flag`` under: ``--ec2-rate`` -> ``ec2_rate``."""
    return flag.removeprefix("--").replace("-", "_")
