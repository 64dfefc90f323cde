"""The naive baseline tells the benchmark how long each of its passes took."""

import pytest

from bench import naive


def test_the_pass_lengths_round_trip_through_the_last_output_line() -> None:
    output = "a warning from botocore\n" + naive.passes_line([20.004, 40.456]) + "\n"

    assert naive.read_passes(output) == [20.0, 40.46]


def test_a_baseline_that_printed_no_passes_has_none() -> None:
    assert naive.read_passes("Traceback (most recent call last):\n  ...\n") == []
    assert naive.read_passes("") == []


def test_main_prints_the_pass_lengths_last(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[tuple[str, str, float, int, int]] = []

    def run(
        kube_url: str, namespace: str, interval: float, intervals: int, workers: int
    ) -> list[float]:
        asked.append((kube_url, namespace, interval, intervals, workers))
        return [19.5, 41.0]

    monkeypatch.setattr(naive, "run", run)

    assert naive.main(["--kube-url", "http://kube", "--interval", "20", "--intervals", "2"]) == 0

    assert asked == [("http://kube", "bench", 20.0, 2, 8)]
    assert naive.read_passes(capsys.readouterr().out) == [19.5, 41.0]
