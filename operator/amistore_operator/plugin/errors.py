"""The plugin's one error type: a message a user can act on, printed as one line (exit 3)."""

from __future__ import annotations


class PluginError(Exception):
    """Anything that ends the command other than a verdict: bad flags, cluster, kubeconfig."""


class WatchExpiredError(PluginError):
    """The watch's resourceVersion is too old (410 Gone): list again and re-watch."""


class NoResourceTypeError(PluginError):
    """The server serves no such resource type (404): its CRD is not installed."""
