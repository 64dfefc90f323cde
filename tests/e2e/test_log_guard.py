"""The teardown guard on operator logs: what it counts as a bug, and what it lets pass."""

from __future__ import annotations

import json

from tests.e2e import harness

QUIET = """\
[2026-12-01 02:50:01,123] kopf._core.engines.a [INFO    ] Initial authentication has finished.
[2026-12-01 02:50:03,456] amistore_operator.re [WARNING ] eu-west-1: DescribeStoreImageTasks \
throttled, backing off 2.0s
[2026-12-01 02:50:04,000] kopf.objects         [ERROR   ] [ns/x] Patching failed with \
inconsistencies: an ERROR of kopf's own, reported by the test that provokes it
"""


def test_a_quiet_log_has_no_problems() -> None:
    assert harness.log_problems(QUIET) == []


def test_a_traceback_is_a_problem_with_its_context() -> None:
    log = (
        QUIET + "[2026-12-01 02:50:05,000] kopf.objects         [ERROR   ] [ns/x] Handler "
        "'poll' failed with an exception. Will retry.\n"
        "Traceback (most recent call last):\n"
        '  File "poller.py", line 3, in view\n'
        "KeyError: 'ami-0123'\n"
    )
    [problem] = harness.log_problems(log)
    assert "Handler 'poll' failed" in problem
    assert "KeyError: 'ami-0123'" in problem


def test_an_error_record_of_the_operator_is_a_problem() -> None:
    line = "[2026-12-01 02:50:05,000] amistore_operator.po [ERROR   ] eu-west-1: refresh loop ended"
    critical = "[2026-12-01 02:50:05,000] amistore_operator    [CRITICAL] gave up"
    assert harness.log_problems(f"{QUIET}{line}\n{critical}\n") == [line, critical]


def test_json_records_are_read_too() -> None:
    error = json.dumps({"message": "refresh loop ended", "severity": "error"})
    other = json.dumps({"message": "x", "severity": "error", "name": "kopf.objects"})
    info = json.dumps({"message": "started", "severity": "info"})
    traced = json.dumps(
        {"message": "failed", "severity": "error", "exc_info": "Traceback (most recent ...)"}
    )
    assert harness.log_problems("\n".join([info, other, error])) == [error]
    assert harness.log_problems(traced) == [traced]
