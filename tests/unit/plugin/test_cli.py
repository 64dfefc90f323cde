"""The plugin's command line: kubectl's flags before or after the command, exit 3 on bad ones."""

from __future__ import annotations

import pytest
from amistore_operator.plugin import cli


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
    ],
)
def test_bad_flags_exit_3_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        cli.main(argv)
    assert ended.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")


def test_help_says_where_kubectl_passes_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        cli.main(["--help"])
    assert ended.value.code == 0
    assert "kubectl amistore -n NS list" in capsys.readouterr().out
