"""The package layout keeps the standard library's ``operator`` reachable."""

import importlib.util
import os
import pathlib

import amistore_operator

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_operator_is_still_the_standard_library() -> None:
    import operator

    assert operator.add(2, 3) == 5
    spec = importlib.util.find_spec("operator")
    assert spec is not None
    assert spec.origin is not None
    assert pathlib.Path(spec.origin).parent == pathlib.Path(os.__file__).parent


def test_operator_folder_is_not_a_package() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()
    package_dir = pathlib.Path(amistore_operator.__file__).parent
    assert package_dir == ROOT / "operator" / "amistore_operator"
