"""Progress that shows in files: where stdout is not a terminal, pretraining, training,
generation and judging print one line at a time (step, loss, tokens/s, ETA), at the steps where
metrics are logged anyway (no device sync of their own); a terminal keeps its bars."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from limalab.tracking.progress import ProgressLine, duration, lines_wanted


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_lines_only_where_stdout_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIMALAB_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stdout", Stream(tty=True))
    assert not lines_wanted() and ProgressLine("train", 10).line(5) is None
    out = Stream(tty=False)
    monkeypatch.setattr("sys.stdout", out)
    p = ProgressLine("train", 100)
    p.t0 -= 10.0  # ten seconds for the first 20 steps
    text = p.line(20, rate=(3105.2, "tokens"), epoch="1/3", loss=2.41234)
    assert text == out.getvalue().strip()
    assert re.fullmatch(
        r"\[train\] step 20/100 \(20%\) \| epoch 1/3 \| loss 2\.412 \| 3,105 tokens/s \| "
        r"elapsed 10s \| ETA (39|40)s",
        text,
    ), text
    monkeypatch.setenv("LIMALAB_PROGRESS", "off")
    assert not lines_wanted()
    monkeypatch.setattr("sys.stdout", Stream(tty=True))
    monkeypatch.setenv("LIMALAB_PROGRESS", "lines")
    assert lines_wanted()


def test_durations_read_like_a_clock() -> None:
    assert [duration(s) for s in (0, 59, 61, 3599, 3661, 90061)] == [
        "0s",
        "59s",
        "1m01s",
        "59m59s",
        "1h01m",
        "25h01m",
    ]


@pytest.mark.slow
def test_a_run_logged_to_a_file_shows_its_progress(smoke_run: tuple[Path, str]) -> None:
    """The smoke run's stdout is a pipe (as in a cluster job's log)."""
    _, stdout = smoke_run
    train = re.findall(
        r"^\[train\] step (\d+)/(\d+) \(\d+%\) \| epoch \d+/3 \| loss [\d.]+ \| [\d,.]+ tokens/s "
        r"\| elapsed \w+ \| ETA \w+$",
        stdout,
        re.M,
    )
    assert train, stdout[-3000:]
    total = int(train[-1][1])
    # conf/trainer/cpu.yaml log_every_n_steps: Lightning reads the loss at these steps anyway
    log_every = 10
    steps = [int(s) for s, _ in train]
    assert (
        steps[-1] == total
        and all(s % log_every == 0 for s in steps[:-1])
        and steps == sorted(set(steps))
    )
    assert re.search(
        r"^\[generate test\] batch \d+/\d+ \(100%\) \| samples 24 \| [\d,.]+ new tokens/s",
        stdout,
        re.M,
    )
    judged = re.findall(r"^\[judge [^\]]+\] response (\d+)/24 ", stdout, re.M)
    assert judged and judged[-1] == "24"
