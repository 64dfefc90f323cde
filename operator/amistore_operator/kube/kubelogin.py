"""How the operator logs in to Kubernetes: kopf's own logins, the official client only for plugins.

In a cluster (a service account token) and with a kubeconfig that carries its
credentials (certificates, a token, a password: kind, k3d, most CI), kopf's own
login functions suffice, and the operator never imports the official
``kubernetes`` client, which alone would double its memory. A kubeconfig whose
user logs in through a plugin (``exec``, e.g. ``aws eks get-token``, or an
``auth-provider``) or a ``tokenFile`` needs that client: install the operator
with its ``full-auth`` extra (``pip install 'amistore-operator[full-auth]'``).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import kopf
import yaml

# User fields that only the official client knows how to turn into credentials.
PLUGIN_FIELDS = ("exec", "auth-provider", "tokenFile")


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's login handler: service account, then kubeconfig; the client only if needed."""
    info = kopf.login_with_service_account(**kwargs)
    if info is not None:
        return info
    paths = kubeconfig_paths()
    if not paths:
        raise kopf.LoginError(
            "No Kubernetes credentials: not in a cluster, and no KUBECONFIG or ~/.kube/config."
        )
    plugin = needs_client(current_user(paths))
    if plugin is None:
        return kopf.login_with_kubeconfig(**kwargs)
    if importlib.util.find_spec("kubernetes") is None:
        raise kopf.LoginError(
            f"The kubeconfig's user logs in through {plugin!r}, which needs the official "
            "kubernetes client: pip install 'amistore-operator[full-auth]'."
        )
    return kopf.login_via_client(**kwargs)


def kubeconfig_paths() -> list[str]:
    """The kubeconfig files, as kubectl finds them (``KUBECONFIG`` or ``~/.kube/config``)."""
    value = os.environ.get("KUBECONFIG", "")
    paths = [os.path.expanduser(p.strip()) for p in value.split(os.pathsep) if p.strip()]
    if not paths and os.path.exists(os.path.expanduser("~/.kube/config")):
        paths = [os.path.expanduser("~/.kube/config")]
    return [p for p in paths if os.path.exists(p)]


def current_user(paths: list[str]) -> dict[str, Any]:
    """The current context's user entry; the first file that defines a name wins."""
    current: str | None = None
    contexts: dict[str, Any] = {}
    users: dict[str, Any] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
        current = current or config.get("current-context")
        for item in config.get("contexts") or ():
            contexts.setdefault(item.get("name"), item.get("context") or {})
        for item in config.get("users") or ():
            users.setdefault(item.get("name"), item.get("user") or {})
    context = contexts.get(current or "", {})
    user = users.get(context.get("user") or "", {})
    return user if isinstance(user, dict) else {}


def needs_client(user: dict[str, Any]) -> str | None:
    """The first field of ``user`` that only the official client can use, if any."""
    for field in PLUGIN_FIELDS:
        if user.get(field):
            if field == "auth-provider" and (user[field].get("config") or {}).get("access-token"):
                continue  # kopf reads a provider's cached token itself
            return field
    return None
