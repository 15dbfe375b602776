"""The README documents what the product does: commands, checks, the charter's keys."""

from __future__ import annotations

import re
from pathlib import Path

from charter.cli import app
from charter.spec import parse_charter

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_fresh_machine_commands_come_first():
    opening = "\n".join(README.splitlines()[:15])
    assert "charter demo" in opening
    assert "pytest" in opening


def test_every_command_is_documented():
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert f"`charter {name}" in README, f"charter {name} is not in the README"


def test_every_audit_check_is_documented():
    sources = "".join(p.read_text() for p in (ROOT / "src" / "charter" / "audit").glob("_*.py"))
    emitted = set(
        re.findall(
            r'"((?:access|quality|target|volume|leakage|timeliness|bias)\.[a-z_]+)"', sources
        )
    )
    assert emitted, "no check names found"
    missing = sorted(name for name in emitted if f"`{name}`" not in README)
    assert not missing, f"checks missing from the README: {missing}"


def test_the_charter_example_in_the_readme_is_valid():
    section = README.split("## The charter", 1)[1]
    example = section.split("```yaml", 1)[1].split("```", 1)[0]
    charter = parse_charter(example, environ={"PGUSER": "ana", "PGPASSWORD": "secret"})
    assert charter.data.entity == "customer_id"
    assert charter.success.beat_baseline_by == 0.1
