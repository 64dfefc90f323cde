"""kopf loads without the kubernetes client, which code that needs it still imports."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import sys
import amistore_operator.cli
from kopf._cogs.helpers import thirdparty
print("kubernetes" in sys.modules, thirdparty.V1ObjectMetaSync is None)
import kubernetes.config  # as kopf.login_via_client does, for an exec kubeconfig
print("kubernetes" in sys.modules)
"""


def test_kopf_is_imported_without_the_client_which_still_loads_on_demand() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["False", "True", "True"]
