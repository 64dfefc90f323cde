"""The wheel holds every module: built, installed non-editable in a fresh venv, and run.

``make test`` installs the project editable, which finds any module under
``operator/``; the image installs the wheel, which holds only what packaging
lists. This builds that wheel and proves it complete.
"""

from __future__ import annotations

import pathlib
import site
import subprocess
import sys
import venv
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "amistore_operator"

# Imports every module of the package from wherever the interpreter finds it, and
# prints where that was.
IMPORT_ALL = """
import importlib, pkgutil, amistore_operator
for info in pkgutil.walk_packages(amistore_operator.__path__, "amistore_operator."):
    if not info.name.endswith(".__main__"):  # that one runs the command
        importlib.import_module(info.name)
print(amistore_operator.__file__)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("amistore_operator-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A fresh venv with the wheel installed; its dependencies come from the test's venv."""
    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         str(wheel)],
        check=True,
        timeout=300,
    )  # fmt: skip
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A plain path entry: the dependencies, without running this venv's editable-install hook.
    (pathlib.Path(fresh_site) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return env_dir


def test_the_wheel_holds_every_module_of_the_source_tree(wheel: pathlib.Path) -> None:
    source = {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.suffix in (".py", ".typed") and "__pycache__" not in path.parts
    }
    with zipfile.ZipFile(wheel) as archive:
        packed = {name for name in archive.namelist() if name.startswith("amistore_operator/")}
    assert source - packed == set()


def test_the_installed_wheel_imports_every_module_and_runs(
    installed: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    python = installed / "bin" / "python"
    # Run outside the repository, so nothing but the installed wheel can answer the import.
    imported = subprocess.run(
        [str(python), "-c", IMPORT_ALL], cwd=tmp_path, capture_output=True, text=True
    )
    assert imported.returncode == 0, imported.stderr
    assert pathlib.Path(imported.stdout.strip()).is_relative_to(installed)
    for command in ("amistore-operator", "kubectl-amistore"):
        shown = subprocess.run(
            [str(installed / "bin" / command), "--help"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        assert "usage:" in shown.stdout
