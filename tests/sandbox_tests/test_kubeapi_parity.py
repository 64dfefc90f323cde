"""The emulator says what the real API server says: the AmiStore CRD's validation errors.

The cases and the real server's words are ``tests/realkube/test_crd.py``'s, which checks
them against kube-apiserver; here the same ``kubectl apply`` runs against the emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import harness
from tests.realkube.test_crd import INVALID_SPECS
from tests.sandbox.kubeapi import process
from tests.sandbox_tests.test_kubeapi_kubectl import Kubectl


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    with process.KubeApiProcess(tmp_path_factory.mktemp("kubeapi")) as api:
        k = Kubectl(api)
        k.ok("apply", "-f", str(harness.ROOT / "crds"))
        yield k
        assert api.stop() == 0


@pytest.mark.parametrize(("spec", "message"), INVALID_SPECS)
def test_invalid_specs_are_refused_with_the_real_servers_words(
    kubectl: Kubectl, spec: dict[str, Any], message: str
) -> None:
    stderr = kubectl.fails("apply", "-f", "-", stdin=harness.amistore("bad", **spec))
    assert stderr.strip() == message
