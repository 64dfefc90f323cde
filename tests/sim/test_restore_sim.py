"""AmiRestore's rules over seeds of its own simulation (``make sim RESTORE=1``)."""

from __future__ import annotations

import pytest

from tests.sim import restorerules, restorescenario

RESTORE_SEEDS = range(20)
# Seeds of `make sim RESTORE=1` that once broke a rule: 47 and 59 (a thawed copy expired
# between two polls of a long interval, so it was thawed again for ever).
RESTORE_FOUND_SEEDS = [47, 59]


@pytest.mark.parametrize("seed", [*RESTORE_SEEDS, *RESTORE_FOUND_SEEDS])
def test_every_restore_rule_holds(seed: int) -> None:
    log = restorescenario.run(restorescenario.draw(seed))
    broken = restorerules.check(log)
    assert not broken, f"{broken} (replay: make sim SEED={seed} RESTORE=1)"
