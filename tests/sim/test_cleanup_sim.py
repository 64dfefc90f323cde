"""Every rule, cleanup's too, over seeds with ``afterExport`` in play (``make sim CLEANUP=1``)."""

from __future__ import annotations

import pytest

from tests.sim import invariants, scenario

CLEANUP_SEEDS = range(40)
# Seeds of `make sim CLEANUP=1` that once broke a rule.
CLEANUP_FOUND_SEEDS = [41, 64, 66, 69, 144, 198, 296, 334, 435, 505, 744, 921, 994, 1077]


@pytest.mark.parametrize("seed", [*CLEANUP_SEEDS, *CLEANUP_FOUND_SEEDS])
def test_every_rule_holds_with_cleanup(seed: int) -> None:
    log = scenario.run(scenario.draw(seed, cleanup=True))
    broken = invariants.check(log)
    assert not broken, f"{broken} (replay: make sim SEED={seed} CLEANUP=1)"
