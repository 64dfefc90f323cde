"""The plugin's command line: kubectl's flags before or after the command, exit 3 on bad ones."""

from __future__ import annotations

import pytest
from amistore_operator.plugin import cli, cluster

URL = "s3://acme-ami-archive/ami-0123456789abcdef0.bin"


def unreachable(*args: object) -> cluster.Cluster:
    raise RuntimeError("the kubeconfig was read for flags that were refused")


def test_flags_before_or_after_the_command() -> None:
    before = cli.parser().parse_args(["-n", "team", "--context", "eks", "watch", "x"])
    after = cli.parser().parse_args(["watch", "x", "-n", "team", "--timeout", "1m30s"])
    assert (before.namespace, before.context, before.name, before.timeout) == (
        "team",
        "eks",
        "x",
        None,
    )
    assert (after.namespace, after.timeout) == ("team", 90.0)
    assert cli.parser().parse_args(["list", "-A"]).all_namespaces is True
    assert cli.parser().parse_args(["-A", "list"]).all_namespaces is True


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["watch"],
        ["watch", "x", "--timeout", "soon"],
        ["watch", "x", "--timeout", "0s"],
        ["status", "x", "-A"],
        ["-A", "status", "x"],
        ["restore"],
        ["restore", URL, "--thaw-days", "three"],
        ["restore", URL, "--timeout", "1m"],
        ["restore", URL, "--thaw-tier", "Bulk"],
        ["restore", "s3://acme-ami-archive/golden.bin"],
        ["restore", URL, "-A"],
        ["status", "pod/x"],
        ["watch", "amr/"],
    ],
)
def test_bad_flags_exit_3_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "connect", unreachable)  # refused before any login
    try:
        code = cli.main(argv)
    except SystemExit as ended:
        code = int(str(ended.code))
    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    assert "RuntimeError" not in err[0]


def test_help_says_where_kubectl_passes_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        cli.main(["--help"])
    assert ended.value.code == 0
    assert "kubectl amistore -n NS list" in capsys.readouterr().out


def test_restore_flags() -> None:
    thaw = ["--thaw-days", "3", "--thaw-tier", "Bulk"]
    waiting = ["--wait", "--timeout", "10m", "-n", "team", "--resource-name", "back"]
    args = cli.parser().parse_args(["restore", URL, "--ami-name", "golden", *thaw, *waiting])
    assert (args.url, args.ami_name, args.thaw_days, args.thaw_tier) == (URL, "golden", 3, "Bulk")
    assert (args.wait, args.timeout, args.namespace, args.resource_name) == (
        True,
        600.0,
        "team",
        "back",
    )
    bare = cli.parser().parse_args(["restore", URL])
    assert (bare.wait, bare.timeout, bare.ami_name, bare.thaw_days) == (False, None, None, None)
