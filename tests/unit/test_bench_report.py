"""The benchmark's table: the columns a reader compares, from a results.json."""

from typing import Any

from bench import report


def _row(n: int, **naive: Any) -> dict[str, Any]:
    return {
        "n": n,
        "interval_seconds": 60.0,
        "describe_calls_per_interval": 2.0,
        "startup_describe_calls": 11,
        "request_limit_exceeded": 0,
        "status_writes_changed_per_interval": 10.0,
        "status_writes_unchanged_per_interval": 0.0,
        "freshness_p50_seconds": 31.5,
        "freshness_p95_seconds": 58.2,
        "freshness_max_seconds": 61.0,
        "changes": 30,
        "changes_not_seen": 0,
        "naive": {
            "interval_seconds": 20.0,
            "intervals": 1,
            "describe_calls_per_interval": float(n),
            "throttled_percent": 94.9,
            "status_writes_per_interval": float(n),
            "pass_seconds": [12.3],
            "seconds": 21.1,
            **naive,
        },
    }


def _cells(table: str, n: int) -> dict[str, str]:
    lines = table.splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == str(n):
            return dict(zip(head, cells, strict=True))
    raise AssertionError(f"no row for N={n} in\n{table}")


def test_a_row_shows_start_up_calls_freshness_and_the_naive_interval_and_share() -> None:
    table = report.table({"sizes": [_row(1000)]})

    cells = _cells(table, 1000)
    assert cells["start-up Describe"] == "11"
    assert (cells["fresh p50 s"], cells["fresh p95 s"], cells["fresh max s"]) == (
        "31.5",
        "58.2",
        "61",
    )
    assert cells["naive interval s"] == "20"
    assert cells["naive throttled %"] == "94.9"
    assert cells["calls ratio"] == "0.002"
    assert cells["writes ratio"] == "0.010"


def test_a_naive_pass_that_ran_over_shows_how_long_it_took() -> None:
    table = report.table({"sizes": [_row(10_000, pass_seconds=[40.46])]})

    assert _cells(table, 10_000)["naive interval s"] == "20 (took 40.5)"


def test_the_naive_interval_of_passes_within_it_is_the_interval() -> None:
    assert report.naive_interval({"interval_seconds": 10.0, "pass_seconds": [9.9, 3.0]}) == "10"
    assert report.naive_interval({"interval_seconds": 10.0, "pass_seconds": []}) == "10"
    assert report.naive_interval({}) == "-"


def test_a_row_without_a_baseline_or_start_up_reads_as_dashes() -> None:
    row = _row(10)
    del row["naive"]
    row["startup_describe_calls"] = None

    cells = _cells(report.table({"sizes": [row]}), 10)

    assert cells["start-up Describe"] == "-"
    assert cells["naive interval s"] == "-"
    assert cells["naive throttled %"] == "-"


def test_changes_that_never_arrived_are_said_under_the_table() -> None:
    row = _row(5000)
    row["changes_not_seen"] = 3

    table = report.table({"sizes": [row, _row(100)]})

    notes = [line for line in table.splitlines() if "never reached a status" in line]
    assert notes == [
        "N=5000: 3 of 30 changes never reached a status (left out of the freshness figures)"
    ]
