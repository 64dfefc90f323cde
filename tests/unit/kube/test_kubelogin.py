"""Which login the operator picks: kopf's own unless the kubeconfig needs a plugin."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from amistore_operator.kube import kubelogin


def kubeconfig(path: Path, user: dict[str, Any], *, current: str | None = "dev") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": current,
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u"}}],
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No service account, no ~/.kube/config: only what a test puts in KUBECONFIG."""
    monkeypatch.setattr(kopf, "login_with_service_account", lambda **_: None)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return monkeypatch


def settings() -> dict[str, Any]:
    return {"settings": kopf.OperatorSettings(), "logger": None}


def test_a_kubeconfig_with_a_token_uses_kopfs_own_login(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kc", {"token": "abc"})))
    info = kubelogin.login(**settings())
    assert info is not None
    assert (info.server, info.token) == ("https://127.0.0.1:6443", "abc")


def test_an_exec_plugin_needs_the_official_client(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    user = {"exec": {"command": "aws", "args": ["eks", "get-token"]}}
    env.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kc", user)))
    called: list[str] = []
    env.setattr(kopf, "login_via_client", lambda **_: called.append("client"))
    kubelogin.login(**settings())
    assert called == ["client"]
    real = importlib.util.find_spec
    env.setattr(
        importlib.util, "find_spec", lambda name: None if name == "kubernetes" else real(name)
    )
    with pytest.raises(kopf.LoginError, match=r"'exec'.*amistore-operator\[full-auth\]"):
        kubelogin.login(**settings())


def test_the_first_kubeconfig_defining_a_name_wins(tmp_path: Path) -> None:
    first = kubeconfig(tmp_path / "a", {"exec": {"command": "aws"}})
    second = kubeconfig(tmp_path / "b", {"token": "t"}, current="other")
    user = kubelogin.current_user([str(first), str(second)])
    assert kubelogin.needs_client(user) == "exec"
    assert kubelogin.needs_client(kubelogin.current_user([str(second), str(first)])) is None


def test_plugin_fields() -> None:
    assert kubelogin.needs_client({"client-certificate-data": "x"}) is None
    assert kubelogin.needs_client({"tokenFile": "/var/run/token"}) == "tokenFile"
    assert kubelogin.needs_client({"auth-provider": {"name": "oidc", "config": {}}}) == (
        "auth-provider"
    )
    cached = {"auth-provider": {"name": "gcp", "config": {"access-token": "t"}}}
    assert kubelogin.needs_client(cached) is None


def test_no_credentials_at_all_is_one_clear_error(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(kopf.LoginError, match="not in a cluster, and no KUBECONFIG"):
        kubelogin.login(**settings())
