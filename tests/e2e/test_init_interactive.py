"""`charter init` on a real terminal asks the open questions; answers land in the charter."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from charter.spec import load_charter


def _read_until(fd: int, text: str, timeout: float = 60) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {text!r}; screen so far:\n{seen}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                seen += os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
    return seen


def test_interactive_init_asks_and_records_answers(tmp_path: Path):
    pacsv.write_csv(
        pa.table(
            {
                "id": list(range(100)),
                "plan": ["a", "b"] * 50,
                "churned": ["yes", "no", "no", "no"] * 25,
            }
        ),
        tmp_path / "customers.csv",
    )
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "charter", "init", "--data", "customers.csv"],
        cwd=tmp_path,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
        env={**os.environ, "COLUMNS": "120", "TERM": "dumb"},
    )
    os.close(terminal)
    answers = [
        ("outcome to predict", "churned"),
        ("owns the outcome", "Retention team"),
        ("question should the model answer", "Who will cancel?"),
        ("done differently", ""),  # left open for later
        ("decided today", "plan = 'a'"),
        ("beat that", "10%"),
    ]
    try:
        for prompt, answer in answers:
            _read_until(controller, prompt)
            os.write(controller, (answer + "\r").encode())
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(controller)
    charter = load_charter(tmp_path / "charter.yaml")
    assert charter.target == "churned"
    assert charter.owner == "Retention team"
    assert charter.problem == "Who will cancel?"
    assert charter.decision is None
    assert charter.baseline.rule == "plan = 'a'"
    assert charter.success.beat_baseline_by == 0.1


def test_answers_given_as_flags_never_wait_for_input_even_on_a_terminal(tmp_path: Path):
    pacsv.write_csv(
        pa.table({"id": [1, 2, 3, 4], "churned": ["yes", "no", "no", "no"]}), tmp_path / "c.csv"
    )
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "charter",
            "init",
            "--data",
            "c.csv",
            "--target",
            "churned",
            "--owner",
            "Ops",
        ],
        cwd=tmp_path,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
    )
    os.close(terminal)
    try:
        screen = _read_until(controller, "Wrote")
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(controller)
    assert "?" not in screen.split("Wrote")[0].split("candidates")[-1]
    assert load_charter(tmp_path / "charter.yaml").owner == "Ops"
