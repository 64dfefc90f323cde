"""The account map's file: read at start, reloaded on a content change, last good map kept."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib

import pytest
from amistore_operator.config import accountfile, settings
from amistore_operator.core import accounts

ROLE = "arn:aws:iam::111111111111:role/amistore"
GOOD = f"""
accounts:
  "111111111111":
    roleArn: {ROLE}
    namespaces: [team-a]
"""
WIDER = GOOD.replace("[team-a]", "[team-a, team-b]")


def configmap_volume(directory: pathlib.Path, content: str, version: int) -> pathlib.Path:
    """Write ``content`` as the kubelet does: a new timestamped folder, then swap ``..data``."""
    folder = directory / f"..2026_{version}"
    folder.mkdir()
    (folder / "accounts.yaml").write_text(content)
    link = directory / "..data_tmp"
    link.symlink_to(folder.name)
    os.replace(link, directory / "..data")
    visible = directory / "accounts.yaml"
    if not visible.is_symlink():
        visible.symlink_to("..data/accounts.yaml")
    return visible


def test_without_a_file_there_is_no_map() -> None:
    file = accountfile.AccountFile("")
    assert file.map() is accounts.NO_MAP
    assert not file.check()


def test_a_malformed_file_at_start_is_one_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(GOOD.replace("roleArn", "role"))
    with pytest.raises(settings.SettingsError) as caught:
        accountfile.AccountFile(str(path))
    assert str(caught.value) == (
        f'--accounts {path}: accounts.111111111111: unknown key "role" '
        "(roleArn, externalId, namespaces)"
    )


def test_a_missing_or_unparsable_file_at_start(tmp_path: pathlib.Path) -> None:
    with pytest.raises(settings.SettingsError, match="cannot read it"):
        accountfile.AccountFile(str(tmp_path / "absent.yaml"))
    path = tmp_path / "accounts.yaml"
    path.write_text("accounts: [unclosed")
    with pytest.raises(settings.SettingsError, match="not valid YAML") as caught:
        accountfile.AccountFile(str(path))
    assert "\n" not in str(caught.value)


def test_a_configmap_update_is_seen_through_the_data_symlink(tmp_path: pathlib.Path) -> None:
    path = configmap_volume(tmp_path, GOOD, 1)
    file = accountfile.AccountFile(str(path))
    assert file.map().denial("team-b", "111111111111") is not None
    assert not file.check()  # same content: nothing to do
    configmap_volume(tmp_path, WIDER, 2)
    assert file.check()
    assert file.map().denial("team-b", "111111111111") is None


def test_a_malformed_reload_keeps_the_last_good_map_and_says_why_once(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = configmap_volume(tmp_path, GOOD, 1)
    file = accountfile.AccountFile(str(path))
    good = file.map()
    configmap_volume(tmp_path, "accounts: {nope: 1}", 2)
    with caplog.at_level(logging.WARNING):
        assert not file.check()
        assert not file.check()
    assert file.map() is good
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "Account map not reloaded, keeping the last good one: --accounts "
        f'{path}: accounts: "nope" is not an account ID (12 digits; quote it in YAML)'
    ]
    configmap_volume(tmp_path, WIDER, 3)
    assert file.check()


async def test_watch_calls_back_after_a_reload(tmp_path: pathlib.Path) -> None:
    path = configmap_volume(tmp_path, GOOD, 1)
    file = accountfile.AccountFile(str(path))
    changed = asyncio.Event()
    watching = asyncio.create_task(file.watch(changed.set, every=0.01))
    try:
        configmap_volume(tmp_path, WIDER, 2)
        await asyncio.wait_for(changed.wait(), timeout=5)
        assert file.map().denial("team-b", "111111111111") is None
    finally:
        watching.cancel()
