"""The operator process never loads the kubectl plugin, rich or the kubernetes client.

import-linter checks the imports it can see in the listed modules; this imports every
module of the package but the plugin, as the operator process does, in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROGRAM = """
import importlib, json, pkgutil, sys
import amistore_operator
{extra}
for info in pkgutil.iter_modules(amistore_operator.__path__, "amistore_operator."):
    if not info.name.startswith(("amistore_operator.plugin", "amistore_operator.__main__")):
        importlib.import_module(info.name)
print(json.dumps(sorted(m for m in sys.modules
    if m.split(".")[0] in ("rich", "kubernetes") or m.startswith("amistore_operator.plugin"))))
"""


def loaded(extra: str = "") -> list[str]:
    """The plugin's modules and libraries loaded after importing every operator module."""
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(extra=extra)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return list(json.loads(result.stdout))


def test_operator_modules_load_neither_the_plugin_nor_its_libraries() -> None:
    assert loaded() == []


def test_the_probe_sees_the_plugin_when_it_is_loaded() -> None:
    seen = loaded("import amistore_operator.plugin.commands")
    assert {"rich", "kubernetes", "amistore_operator.plugin.commands"} <= set(seen)
