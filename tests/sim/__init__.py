"""The deterministic simulation: the operator's real code on a virtual clock, against fakes.

Test infrastructure. ``world`` runs the real service, poller hub, exporter and poll
loop (``kube/daemon.py``) on a looptime event loop whose clock jumps to the next
timer; ``fakeaws`` and ``fakekube`` behave as EC2 and the API server do (EC2's
visibility delay, capacity, throttling, per-AMI refusals; watch lag, refused and
lost status writes); ``scenario`` draws a whole run from one seed; ``invariants``
are the safety rules, plain functions over the run's log. ``python -m tests.sim``
runs many seeds (``make sim SEEDS=N``); a failing seed prints the command that
replays it. ``test_stateful`` drives the same world step by step with Hypothesis,
which shrinks a failing run (``make sim-stateful EXAMPLES=N``).
"""
