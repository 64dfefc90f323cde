"""``NAME``, ``amistore/NAME`` and ``amirestore/NAME`` (also ``amr/NAME``) on the command line."""

from __future__ import annotations

import pytest
from amistore_operator.plugin import errors, kinds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("golden", (kinds.AMISTORE, "golden")),
        ("amistore/golden", (kinds.AMISTORE, "golden")),
        ("ams/golden", (kinds.AMISTORE, "golden")),
        ("amirestore/back", (kinds.AMIRESTORE, "back")),
        ("amirestores/back", (kinds.AMIRESTORE, "back")),
        ("amr/back", (kinds.AMIRESTORE, "back")),
        ("AmiRestore/back", (kinds.AMIRESTORE, "back")),
        ("amirestores.amistore.io/back", (kinds.AMIRESTORE, "back")),
    ],
)
def test_targets(text: str, expected: tuple[kinds.Kind, str]) -> None:
    assert kinds.target(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pod/x", 'unknown kind "pod" (known: amistore, amirestore)'),
        ("amr/", "'amr/' is not KIND/NAME (e.g. amirestore/NAME)"),
        ("amr/a/b", "'amr/a/b' is not KIND/NAME (e.g. amirestore/NAME)"),
    ],
)
def test_a_bad_target_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(errors.PluginError) as raised:
        kinds.target(text)
    assert str(raised.value) == message


def test_names_in_the_api() -> None:
    assert (kinds.AMIRESTORE.singular, kinds.AMIRESTORE.crd) == (
        "amirestore",
        "amirestores.amistore.io",
    )
