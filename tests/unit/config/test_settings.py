"""Settings from flags over AMISTORE_* variables over defaults, with one-line errors."""

from __future__ import annotations

import pytest
from amistore_operator.config import settings

ENV = {"AWS_REGION": "eu-west-1"}


def error_of(argv: list[str], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(settings.SettingsError) as caught:
        settings.load(argv, ENV if environ is None else environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults() -> None:
    loaded = settings.load([], ENV)
    assert loaded == settings.Settings(region="eu-west-1")
    assert loaded.namespaces == ()
    assert loaded.all_namespaces
    assert (loaded.metrics_port, loaded.liveness_port) == (8000, 8080)
    assert loaded.poll_interval == 60
    assert (loaded.log_format, loaded.log_level) == ("text", "info")
    assert (loaded.ec2_rate, loaded.ec2_burst) == (0.5, 50)
    assert loaded.max_task_series == 5000


def test_every_setting_from_the_environment() -> None:
    loaded = settings.load(
        [],
        {
            "AMISTORE_NAMESPACE": "team-a, team-b,team-a",
            "AMISTORE_METRICS_PORT": "9100",
            "AMISTORE_LIVENESS_PORT": "9101",
            "AMISTORE_POLL_INTERVAL": "1.5",
            "AMISTORE_REGION": "us-gov-west-1",
            "AMISTORE_LOG_FORMAT": "JSON",
            "AMISTORE_LOG_LEVEL": "debug",
            "AMISTORE_EC2_RATE": "0.2",
            "AMISTORE_EC2_BURST": "10",
            "AMISTORE_MAX_TASK_SERIES": "0",
        },
    )
    assert loaded == settings.Settings(
        namespaces=("team-a", "team-b"),
        metrics_port=9100,
        liveness_port=9101,
        poll_interval=1.5,
        region="us-gov-west-1",
        log_format="json",
        log_level="debug",
        ec2_rate=0.2,
        ec2_burst=10,
        max_task_series=0,
    )


def test_flags_beat_the_environment() -> None:
    environ = {
        **ENV,
        "AMISTORE_NAMESPACE": "from-env",
        "AMISTORE_METRICS_PORT": "9100",
        "AMISTORE_POLL_INTERVAL": "bad",  # never read: the flag wins
        "AMISTORE_REGION": "us-east-1",
        "AMISTORE_EC2_RATE": "0.1",
        "AMISTORE_MAX_TASK_SERIES": "7",
    }
    loaded = settings.load(
        [
            "--namespace=a",
            "--namespace",
            "b",
            "--metrics-port",
            "9200",
            "--poll-interval",
            "2",
            "--region",
            "cn-north-1",
            "--ec2-rate",
            "3",
            "--max-task-series",
            "20000",
        ],
        environ,
    )
    assert loaded.namespaces == ("a", "b")
    assert loaded.metrics_port == 9200
    assert loaded.poll_interval == 2
    assert loaded.region == "cn-north-1"
    assert loaded.ec2_rate == 3  # above AWS's default rate: allowed for raised quotas
    assert loaded.max_task_series == 20000


def test_region_falls_back_through_the_aws_variables() -> None:
    assert settings.load([], {"AWS_DEFAULT_REGION": "ap-south-1"}).region == "ap-south-1"
    both = {"AWS_DEFAULT_REGION": "ap-south-1", "AWS_REGION": "eu-north-1"}
    assert settings.load([], both).region == "eu-north-1"
    assert settings.load([], {**both, "AMISTORE_REGION": "us-west-2"}).region == "us-west-2"


def test_all_namespaces_flag_beats_namespace_variable() -> None:
    environ = {**ENV, "AMISTORE_NAMESPACE": "x"}
    assert settings.load(["--all-namespaces"], environ).all_namespaces
    assert settings.load([], {**ENV, "AMISTORE_ALL_NAMESPACES": "1"}).all_namespaces
    assert settings.load(
        ["--namespace", "y"], {**environ, "AMISTORE_ALL_NAMESPACES": "true"}
    ).namespaces == ("y",)


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ([], {}, "no AWS region: set --region, AMISTORE_REGION or AWS_REGION"),
        (
            ["--region", "europe"],
            {},
            '--region: "europe" is not an AWS region name (such as eu-west-1)',
        ),
        (
            [],
            {"AWS_REGION": "Mars"},
            'AWS_REGION: "Mars" is not an AWS region name (such as eu-west-1)',
        ),
        (["--poll-interval", "x"], ENV, '--poll-interval: must be a number >= 1, got "x"'),
        (["--poll-interval", "0.5"], ENV, '--poll-interval: must be a number >= 1, got "0.5"'),
        (["--poll-interval", "inf"], ENV, '--poll-interval: must be a number >= 1, got "inf"'),
        (
            [],
            {**ENV, "AMISTORE_POLL_INTERVAL": "0"},
            'AMISTORE_POLL_INTERVAL: must be a number >= 1, got "0"',
        ),
        (
            ["--metrics-port", "0"],
            ENV,
            '--metrics-port: must be a port number from 1 to 65535, got "0"',
        ),
        (
            [],
            {**ENV, "AMISTORE_LIVENESS_PORT": "http"},
            'AMISTORE_LIVENESS_PORT: must be a port number from 1 to 65535, got "http"',
        ),
        (
            ["--liveness-port", "8000"],
            ENV,
            "--liveness-port: must differ from --metrics-port (both are 8000)",
        ),
        (["--ec2-rate", "0"], ENV, '--ec2-rate: must be a number > 0, got "0"'),
        (
            [],
            {**ENV, "AMISTORE_EC2_RATE": "fast"},
            'AMISTORE_EC2_RATE: must be a number > 0, got "fast"',
        ),
        (["--ec2-burst", "2.5"], ENV, '--ec2-burst: must be a whole number >= 1, got "2.5"'),
        (
            [],
            {**ENV, "AMISTORE_EC2_BURST": "0"},
            'AMISTORE_EC2_BURST: must be a whole number >= 1, got "0"',
        ),
        (
            ["--max-task-series", "-1"],
            ENV,
            '--max-task-series: must be a whole number >= 0, got "-1"',
        ),
        (
            [],
            {**ENV, "AMISTORE_MAX_TASK_SERIES": "many"},
            'AMISTORE_MAX_TASK_SERIES: must be a whole number >= 0, got "many"',
        ),
        (["--log-format", "xml"], ENV, '--log-format: must be one of text, json, got "xml"'),
        (
            [],
            {**ENV, "AMISTORE_LOG_LEVEL": "loud"},
            'AMISTORE_LOG_LEVEL: must be one of debug, info, warning, error, got "loud"',
        ),
        (["--namespace", "Bad_NS"], ENV, '--namespace: "Bad_NS" is not a valid namespace name'),
        (
            [],
            {**ENV, "AMISTORE_NAMESPACE": "ok,-bad"},
            'AMISTORE_NAMESPACE: "-bad" is not a valid namespace name',
        ),
        (
            ["--namespace", "a", "--all-namespaces"],
            ENV,
            "--all-namespaces: cannot be combined with --namespace",
        ),
        (
            [],
            {**ENV, "AMISTORE_ALL_NAMESPACES": "maybe"},
            'AMISTORE_ALL_NAMESPACES: must be true or false, got "maybe"',
        ),
        (
            [],
            {**ENV, "AMISTORE_ALL_NAMESPACES": "true", "AMISTORE_NAMESPACE": "a"},
            "AMISTORE_ALL_NAMESPACES: cannot be true when AMISTORE_NAMESPACE is set",
        ),
        (["--bogus"], ENV, "unrecognized arguments: --bogus"),
        (["--metrics"], ENV, "unrecognized arguments: --metrics"),  # no abbreviations
        (["--metrics-port"], ENV, "argument --metrics-port: expected one argument"),
    ],
)
def test_errors_are_one_line_naming_the_flag_or_variable(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    assert error_of(argv, environ) == message


def test_help_and_version_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--help", "--version"):
        with pytest.raises(SystemExit) as caught:
            settings.load([flag], ENV)
        assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--poll-interval" in out
    assert "AMISTORE_EC2_RATE" in out
    assert "AMISTORE_MAX_TASK_SERIES" in out
    assert "amistore-operator 0.1.0" in out


def test_accounts_file_from_the_flag_or_the_environment() -> None:
    assert settings.load([], ENV).accounts_file == ""
    assert settings.load(["--accounts", "/etc/amistore/accounts.yaml"], ENV).accounts_file == (
        "/etc/amistore/accounts.yaml"
    )
    environ = {**ENV, "AMISTORE_ACCOUNTS": "/a.yaml"}
    assert settings.load([], environ).accounts_file == "/a.yaml"
    assert settings.load(["--accounts", "/b.yaml"], environ).accounts_file == "/b.yaml"
    assert error_of(["--accounts", ""]) == "--accounts: must name a file"


def test_stall_after_from_the_flag_or_the_environment() -> None:
    assert settings.load([], ENV).stall_after == 7200
    assert settings.load(["--stall-after", "600"], ENV).stall_after == 600
    environ = {**ENV, "AMISTORE_STALL_AFTER": "90"}
    assert settings.load([], environ).stall_after == 90
    assert settings.load(["--stall-after", "30"], environ).stall_after == 30
    assert error_of(["--stall-after", "0"]) == '--stall-after: must be a number >= 1, got "0"'
    assert error_of([], {**ENV, "AMISTORE_STALL_AFTER": "2h"}) == (
        'AMISTORE_STALL_AFTER: must be a number >= 1, got "2h"'
    )
