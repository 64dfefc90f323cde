"""The emulator does what the real API server does: the AmiStore CRD's validation errors,
an Event's times.

The cases and the real server's answers are those of ``tests/realkube/test_crd.py`` and
``test_events.py``, which check them against kube-apiserver; here the same kubectl
commands run against the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import harness
from tests.realkube.test_crd import INVALID_SPECS
from tests.realkube.test_events import STORED, kopf_event
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


def test_event_times_are_kept_as_the_real_server_keeps_them(kubectl: Kubectl) -> None:
    created = json.loads(kubectl.ok("create", "-f", "-", "-o", "json", stdin=kopf_event("default")))
    assert {key: created[key] for key in STORED} == STORED
