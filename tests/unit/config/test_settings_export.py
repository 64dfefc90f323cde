"""The export flags: --allow-create, --allowed-buckets, --create-namespaces, create budget."""

from __future__ import annotations

import pytest
from amistore_operator.config import settings

ENV = {"AWS_REGION": "eu-west-1"}


def error_of(argv: list[str], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(settings.SettingsError) as caught:
        settings.load(argv, ENV if environ is None else environ)
    return str(caught.value)


def test_export_is_off_by_default() -> None:
    loaded = settings.load([], ENV)
    assert loaded.allow_create is False
    assert loaded.allowed_buckets == ()
    assert loaded.create_namespaces == ("*",)
    assert (loaded.ec2_create_rate, loaded.ec2_create_burst) == (0.1, 50)
    assert not loaded.export_permission.allow_create


def test_export_flags_repeat_and_split_on_commas() -> None:
    loaded = settings.load(
        [
            "--allow-create",
            "--allowed-buckets",
            "amis-*, backups",
            "--allowed-buckets",
            "amis-*",
            "--create-namespaces",
            "team-*",
            "--ec2-create-rate",
            "0.05",
            "--ec2-create-burst",
            "10",
        ],
        ENV,
    )
    assert loaded.allow_create is True
    assert loaded.allowed_buckets == ("amis-*", "backups")
    assert loaded.create_namespaces == ("team-*",)
    assert (loaded.ec2_create_rate, loaded.ec2_create_burst) == (0.05, 10)
    permission = loaded.export_permission
    assert permission.allow_create
    assert permission.allowed_buckets == ("amis-*", "backups")


def test_export_settings_from_the_environment() -> None:
    loaded = settings.load(
        [],
        {
            **ENV,
            "AMISTORE_ALLOW_CREATE": "true",
            "AMISTORE_ALLOWED_BUCKETS": "a-*,b-*",
            "AMISTORE_CREATE_NAMESPACES": "ops",
            "AMISTORE_EC2_CREATE_RATE": "0.2",
            "AMISTORE_EC2_CREATE_BURST": "5",
        },
    )
    assert loaded.allow_create
    assert loaded.allowed_buckets == ("a-*", "b-*")
    assert loaded.create_namespaces == ("ops",)
    assert (loaded.ec2_create_rate, loaded.ec2_create_burst) == (0.2, 5)


def test_export_flag_errors_name_the_flag() -> None:
    assert (
        error_of(["--allowed-buckets", " , "])
        == "--allowed-buckets: must list at least one pattern"
    )
    assert (
        error_of(["--create-namespaces", ""])
        == "--create-namespaces: must list at least one pattern"
    )
    assert error_of([], {**ENV, "AMISTORE_ALLOW_CREATE": "maybe"}) == (
        'AMISTORE_ALLOW_CREATE: must be true or false, got "maybe"'
    )
    assert error_of(["--ec2-create-rate", "0"]).startswith("--ec2-create-rate:")


def test_max_concurrent_stores_flag_environment_and_default() -> None:
    assert settings.load([], ENV).max_concurrent_stores == 20
    assert settings.load(["--max-concurrent-stores", "0"], ENV).max_concurrent_stores == 0
    environ = {**ENV, "AMISTORE_MAX_CONCURRENT_STORES": "5"}
    assert settings.load([], environ).max_concurrent_stores == 5
    assert error_of(["--max-concurrent-stores", "-1"]) == (
        '--max-concurrent-stores: must be a whole number >= 0, got "-1"'
    )
