"""The cleanup flags: --allow-deregister, --deregister-namespaces, and what they permit."""

from __future__ import annotations

import pytest
from amistore_operator.config import settings
from amistore_operator.core import cleanuppermission

ENV = {"AWS_REGION": "eu-west-1"}
OFF = (
    "DeregisterNotAllowed",
    "The operator does not deregister AMIs (it runs without --allow-deregister)",
)


def error_of(argv: list[str], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(settings.SettingsError) as caught:
        settings.load(argv, ENV if environ is None else environ)
    return str(caught.value)


def test_cleanup_is_off_by_default() -> None:
    loaded = settings.load([], ENV)
    assert loaded.allow_deregister is False
    assert loaded.deregister_namespaces == ("*",)
    assert loaded.cleanup_permission() == cleanuppermission.Permission()
    assert loaded.cleanup_permission().refusal("default") == OFF


def test_cleanup_flags_repeat_and_split_on_commas() -> None:
    loaded = settings.load(
        [
            "--allow-deregister",
            "--deregister-namespaces",
            "team-*, ops",
            "--deregister-namespaces",
            "ops",
        ],
        ENV,
    )
    assert loaded.allow_deregister is True
    assert loaded.deregister_namespaces == ("team-*", "ops")
    permission = loaded.cleanup_permission()
    assert permission.refusal("team-a") is None
    assert permission.refusal("ops") is None
    assert permission.refusal("dev") == (
        "DeregisterNotAllowed",
        'Namespace "dev" matches none of the operator\'s --deregister-namespaces',
    )


def test_cleanup_settings_from_the_environment() -> None:
    environ = {
        **ENV,
        "AMISTORE_ALLOW_DEREGISTER": "true",
        "AMISTORE_DEREGISTER_NAMESPACES": "ops,prod-*",
    }
    loaded = settings.load([], environ)
    assert loaded.allow_deregister
    assert loaded.deregister_namespaces == ("ops", "prod-*")
    assert settings.load(["--deregister-namespaces", "x"], environ).deregister_namespaces == ("x",)
    off = {**ENV, "AMISTORE_ALLOW_DEREGISTER": "off"}
    assert settings.load([], off).allow_deregister is False
    assert settings.load(["--allow-deregister"], off).allow_deregister is True  # the flag wins


def test_cleanup_is_apart_from_export() -> None:
    exporting = settings.load(["--allow-create", "--create-namespaces", "ops"], ENV)
    assert exporting.allow_deregister is False
    assert exporting.deregister_namespaces == ("*",)
    cleaning = settings.load(["--allow-deregister", "--deregister-namespaces", "ops"], ENV)
    assert cleaning.allow_create is False
    assert cleaning.create_namespaces == ("*",)


def test_cleanup_flag_errors_name_the_flag() -> None:
    assert (
        error_of(["--deregister-namespaces", " , "])
        == "--deregister-namespaces: must list at least one pattern"
    )
    assert error_of([], {**ENV, "AMISTORE_DEREGISTER_NAMESPACES": ""}) == (
        "AMISTORE_DEREGISTER_NAMESPACES: must list at least one pattern"
    )
    assert error_of([], {**ENV, "AMISTORE_ALLOW_DEREGISTER": "maybe"}) == (
        'AMISTORE_ALLOW_DEREGISTER: must be true or false, got "maybe"'
    )
    assert error_of(["--allow-deregister=yes"]) == (
        "argument --allow-deregister: ignored explicit argument 'yes'"
    )


def test_help_lists_the_cleanup_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        settings.load(["--help"], ENV)
    out = capsys.readouterr().out
    for text in (
        "--allow-deregister",
        "AMISTORE_ALLOW_DEREGISTER",
        "--deregister-namespaces",
        "AMISTORE_DEREGISTER_NAMESPACES",
    ):
        assert text in out


def test_permission_refuses_first_without_the_flag_then_by_namespace() -> None:
    closed = cleanuppermission.Permission(deregister_namespaces=("nowhere",))
    assert closed.refusal("ops") == OFF
    everywhere = cleanuppermission.Permission(allow_deregister=True)
    assert everywhere.refusal("any-namespace") is None
    patterns = cleanuppermission.Permission(allow_deregister=True, deregister_namespaces=("a*",))
    assert patterns.refusal("alpha") is None
    assert patterns.refusal("Alpha") is not None  # case-sensitive, as namespaces are lowercase
