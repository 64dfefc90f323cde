"""``python -m tests.sim``: run many seeds of the simulation (``make sim SEEDS=N``).

python -m tests.sim --seeds 10000            # seeds 0..9999
python -m tests.sim --seed 42 --verbose      # replay one seed, with its calls and writes
python -m tests.sim --seeds 200 --dump F     # every call, write and Event as JSON lines, to diff
python -m tests.sim --seeds 1000 --verify    # with verifyObjects (HeadObject) in play
python -m tests.sim --seeds 1000 --cleanup   # with afterExport (DeregisterImage) in play
python -m tests.sim --seeds 1000 --restore   # AmiRestores (CreateRestoreImageTask) instead
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any, TextIO

from tests.sim import invariants, restorerules, restorescenario, scenario


def main(argv: list[str] | None = None) -> int:
    """Run the seeds; print each failure with the command that replays it."""
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__)
    parser.add_argument("--seeds", type=int, default=1000, help="how many seeds, from --start")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--seed", type=int, help="replay this one seed")
    parser.add_argument("--verbose", action="store_true", help="print the calls and writes")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="the same seeds with verifyObjects on some AmiStores, and some objects missing",
    )
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="the same seeds with afterExport on some AmiStores, AMIs that block it (public, "
        "shared, protected, in use) and the operator's --allow-deregister flags",
    )
    parser.add_argument(
        "--restore",
        action="store_true",
        help="AmiRestores instead: objects in every storage class, thaws, failed restores and "
        "their retries, names taken, the restore limit, with the same kinds of faults",
    )
    parser.add_argument(
        "--dump",
        type=argparse.FileType("w"),
        help="write every call, status write and Event of every seed to this file, one JSON "
        "line each: two versions of the code that behave alike write the same file",
    )
    args = parser.parse_args(argv)
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    started, failed = time.monotonic(), 0
    for seed in seeds:
        if args.restore:
            failed += _restore(seed, verbose=args.verbose)
            continue
        log = scenario.run(scenario.draw(seed, verify=args.verify, cleanup=args.cleanup))
        broken = invariants.check(log)
        if args.dump:
            dump(seed, log, args.dump)
        if args.verbose:
            for call in log.ec2.calls:
                print(
                    f"t={call.t:.1f} {call.account or 'own'} {call.op} {call.amis} {call.outcome}"
                )
            for write in log.kube.writes:
                print(f"t={write.t:.1f} write {write.key} {write.outcome}")
        if broken:
            failed += 1
            replay = f"make sim SEED={seed}" + (" VERIFY=1" if args.verify else "")
            replay += " CLEANUP=1" if args.cleanup else ""
            print(f"seed {seed} broke {sorted(broken)}: replay with: {replay}")
            for name, violations in broken.items():
                for violation in violations[:3]:
                    print(f"  {name}: {violation}")
    elapsed = time.monotonic() - started
    count = len(seeds)
    rate = elapsed / count
    print(f"{count - failed} passed, {failed} failed in {elapsed:.1f} s ({rate:.3f} s a seed)")
    return 1 if failed else 0


def _restore(seed: int, *, verbose: bool) -> int:
    """One seed of the AmiRestore simulation: 1 if it broke a rule (printed)."""
    log = restorescenario.run(restorescenario.draw(seed))
    if verbose:
        for call in log.aws.calls:
            print(f"t={call.t:.1f} {call.op} {call.key or call.name} {call.uid} {call.outcome}")
        for write in log.kube.writes:
            print(f"t={write.t:.1f} write {write.key} {write.outcome}")
    broken = restorerules.check(log)
    if broken:
        print(f"seed {seed} broke {sorted(broken)}: replay with: make sim SEED={seed} RESTORE=1")
        for name, violations in broken.items():
            for violation in violations[:3]:
                print(f"  {name}: {violation}")
    return 1 if broken else 0


def dump(seed: int, log: scenario.Log, out: TextIO) -> None:
    """One JSON line per call, write and Event of ``log``, in the order they happened."""
    rows: list[dict[str, Any]] = [
        *({"call": dataclasses.asdict(call)} for call in log.ec2.calls),
        *({"write": dataclasses.asdict(write)} for write in log.kube.writes),
        *({"event": repr(posted)} for posted in log.posted),
    ]
    for row in rows:
        print(json.dumps({"seed": seed, **row}, sort_keys=True, default=repr), file=out)


if __name__ == "__main__":
    sys.exit(main())
