"""The audit trail's hash chain: intact trails verify, and each kind of tampering is named.

Tampering is done the way someone with database access would: plain SQL on `charter_events`.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.registry import Registry
from charter.registry._schema import EVENTS
from charter.registry._store import GENESIS
from charter.registry._trail import ACTIONS, entry_hash

PROJECT = "churn"
ENTRIES = 6


def fill(registry: Registry, project: str = PROJECT, count: int = ENTRIES) -> None:
    """Append `count` entries through the registry, each a little different."""
    actions = ("approved", "threshold_changed", "charter_changed", "registered")
    for i in range(1, count + 1):
        registry.record(
            project,
            actions[i % len(actions)],
            actor=f"person-{i}",
            version=i,
            reason=f"reason {i}" if i % 2 else None,
            details={"step": i, "note": "ünïcode ✓"},
        )


def execute(registry: Registry, statement: str, **params: Any) -> None:
    with registry.store.engine.begin() as connection:
        connection.execute(sa.text(statement), params)


def swap_seq(registry: Registry, project: str, first: int, second: int) -> None:
    """Exchange the positions of two entries (through a free seq, as (project, seq) is unique)."""
    with registry.store.engine.begin() as connection:
        for old, new in ((first, -1), (second, first), (-1, second)):
            connection.execute(
                sa.text("UPDATE charter_events SET seq = :new WHERE project = :p AND seq = :old"),
                {"new": new, "old": old, "p": project},
            )


def problems(registry: Registry, project: str = PROJECT) -> tuple[str, ...]:
    check = registry.verify(project)
    assert check.ok == (not check.problems)
    return check.problems


def test_an_untouched_trail_verifies(store_registry: Registry) -> None:
    fill(store_registry)
    check = store_registry.verify(PROJECT)
    assert check.ok and check.problems == ()
    assert check.entries == ENTRIES

    trail = store_registry.trail(PROJECT)
    assert [e.seq for e in trail] == list(range(1, ENTRIES + 1))
    assert trail[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(trail))
    assert check.head == trail[-1].hash
    assert trail[2].details == {"step": 3, "note": "ünïcode ✓"}


def test_an_empty_and_an_unknown_project_verify(store_registry: Registry) -> None:
    assert store_registry.verify("never-seen").ok
    assert store_registry.verify("never-seen").entries == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("reason", "a better-sounding reason"),
        ("actor", "someone-else"),
        ("details", '{"note":"ünïcode ✓","step":99}'),
        ("at", "2020-01-01T00:00:00.000000+00:00"),
        ("action", "promoted"),
        ("version", 42),
        ("alias", "production"),
    ],
)
def test_an_edited_entry_is_named(store_registry: Registry, column: str, value: Any) -> None:
    fill(store_registry)
    execute(
        store_registry,
        f"UPDATE charter_events SET {column} = :value WHERE project = :p AND seq = 3",
        value=value,
        p=PROJECT,
    )
    found = problems(store_registry)
    assert len(found) == 1, found
    assert found[0].startswith("entry #3 (") and "was edited" in found[0]


def test_an_edit_in_one_project_does_not_touch_another(store_registry: Registry) -> None:
    fill(store_registry)
    fill(store_registry, "fraud", 3)
    execute(store_registry, "UPDATE charter_events SET reason = 'x' WHERE project = 'fraud'")
    assert not store_registry.verify("fraud").ok
    assert store_registry.verify(PROJECT).ok


def test_a_removed_middle_entry_is_named(store_registry: Registry) -> None:
    fill(store_registry)
    execute(store_registry, "DELETE FROM charter_events WHERE project = :p AND seq = 3", p=PROJECT)
    assert problems(store_registry) == ("entry #3 was removed: the trail jumps from #2 to #4.",)


@pytest.mark.parametrize("seq", [1, 3])
def test_a_removed_entry_is_reported_removed(store_registry: Registry, seq: int) -> None:
    fill(store_registry)
    execute(
        store_registry,
        "DELETE FROM charter_events WHERE project = :p AND seq = :s",
        p=PROJECT,
        s=seq,
    )
    found = problems(store_registry)
    assert any(p.startswith(f"entry #{seq} was removed") for p in found), found
    assert not any("edited" in p for p in found), found


def test_several_removed_entries_are_named_together(store_registry: Registry) -> None:
    fill(store_registry)
    execute(
        store_registry, "DELETE FROM charter_events WHERE project = :p AND seq IN (3, 4)", p=PROJECT
    )
    found = problems(store_registry)
    assert any(p.startswith("entries #3–#4 were removed") for p in found), found


@pytest.mark.parametrize(("first", "second"), [(3, 4), (2, 5), (1, 2)])
def test_swapped_entries_are_out_of_order(
    store_registry: Registry, first: int, second: int
) -> None:
    fill(store_registry)
    swap_seq(store_registry, PROJECT, first, second)
    found = problems(store_registry)
    out_of_order = [p for p in found if "out of order" in p]
    assert out_of_order, found
    assert out_of_order[0].startswith(f"entry #{first} ("), found
    assert not any("edited" in p for p in found), found


def test_entries_cut_from_the_end_are_reported(store_registry: Registry) -> None:
    fill(store_registry)
    execute(
        store_registry,
        "DELETE FROM charter_events WHERE project = :p AND seq = :s",
        p=PROJECT,
        s=ENTRIES,
    )
    assert problems(store_registry) == (
        f"entry #{ENTRIES} was removed from the end: the store recorded {ENTRIES} entries, "
        f"the trail ends at #{ENTRIES - 1}.",
    )
    execute(store_registry, "DELETE FROM charter_events WHERE project = :p", p=PROJECT)
    assert problems(store_registry) == (
        f"entries #1–#{ENTRIES} were removed from the end: the store recorded {ENTRIES} "
        "entries, the trail ends at #0.",
    )


def rewrite_chain_from(registry: Registry, project: str, seq: int, reason: str) -> None:
    """Edit entry `seq` and re-hash it and every later entry, as a careful forger would."""
    prev_hash = GENESIS
    with registry.store.engine.begin() as connection:
        for entry in registry.trail(project):
            if entry.seq >= seq:
                forged = replace(
                    entry, reason=reason if entry.seq == seq else entry.reason, prev_hash=prev_hash
                )
                forged = replace(forged, hash=entry_hash(forged))
                connection.execute(
                    EVENTS.update()
                    .where(EVENTS.c.project == project, EVENTS.c.seq == entry.seq)
                    .values(reason=forged.reason, prev_hash=forged.prev_hash, hash=forged.hash)
                )
                entry = forged
            prev_hash = entry.hash


def test_a_consistently_rewritten_chain_is_caught_by_the_recorded_head(
    store_registry: Registry,
) -> None:
    fill(store_registry)
    rewrite_chain_from(store_registry, PROJECT, 2, "nothing to see here")
    found = problems(store_registry)
    assert found == (
        f"the trail's last entry #{ENTRIES} is not the one the store recorded as its head.",
    )


def test_rewriting_the_chain_and_the_head_changes_the_head_a_copy_would_catch(
    store_registry: Registry,
) -> None:
    fill(store_registry)
    head_before = store_registry.verify(PROJECT).head
    rewrite_chain_from(store_registry, PROJECT, 2, "nothing to see here")
    new_head = store_registry.trail(PROJECT)[-1].hash
    execute(
        store_registry,
        "UPDATE charter_projects SET trail_head = :h WHERE name = :p",
        h=new_head,
        p=PROJECT,
    )
    check = store_registry.verify(PROJECT)
    # Indistinguishable from inside the store (documented), but the printed head changed.
    assert check.ok
    assert check.head != head_before


def test_an_entry_slipped_in_past_the_store_is_caught(store_registry: Registry) -> None:
    fill(store_registry)
    last = store_registry.trail(PROJECT)[-1]
    forged = replace(
        last,
        seq=last.seq + 1,
        at="2030-01-01T00:00:00.000000+00:00",
        actor="mallory",
        action="approved",
        reason="trust me",
        prev_hash=last.hash,
    )
    forged = replace(forged, hash=entry_hash(forged))
    with store_registry.store.engine.begin() as connection:
        connection.execute(
            EVENTS.insert().values(
                project=PROJECT,
                seq=forged.seq,
                at=forged.at,
                actor=forged.actor,
                action=forged.action,
                version=forged.version,
                alias=forged.alias,
                reason=forged.reason,
                details=forged.details_text,
                prev_hash=forged.prev_hash,
                hash=forged.hash,
            )
        )
    assert problems(store_registry) == (
        f"the trail's last entry #{ENTRIES + 1} is not the one the store recorded as its head.",
    )


# --- property: no single tampering goes unnoticed -----------------------------------------------

# PostgreSQL text cannot hold NUL; surrogates are not valid UTF-8.
texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
entry_specs = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        texts.filter(bool).map(lambda t: t[:12]),
        st.none() | texts.map(lambda t: t[:20]),
        st.none() | st.integers(min_value=1, max_value=50),
        st.dictionaries(st.sampled_from(["a", "b", "gate"]), st.integers(-(2**40), 2**40) | texts),
    ),
    min_size=2,
    max_size=6,
)
tamperings = st.sampled_from(["edit", "delete", "swap"])
edited_columns = st.sampled_from(["actor", "reason", "details", "action", "version", "at"])


def edited(column: str, current: Any) -> Any:
    """A value for `column` different from `current`."""
    if column == "version":
        return 1 if current is None else current + 1
    if column == "details":
        return '{"tampered":true}' if current != '{"tampered":true}' else "{}"
    if column == "action":
        return "promoted" if current != "promoted" else "rejected"
    return "tampered" if current != "tampered" else "tampered!"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # a new project per example
)
@given(
    specs=entry_specs,
    tampering=tamperings,
    column=edited_columns,
    where=st.integers(min_value=0, max_value=1000),
    other=st.integers(min_value=0, max_value=1000),
)
def test_no_single_tampering_goes_unnoticed(
    store_registry: Registry,
    specs: list[tuple[str, str, str | None, int | None, dict[str, Any]]],
    tampering: str,
    column: str,
    where: int,
    other: int,
) -> None:
    project = f"p-{uuid.uuid4().hex[:10]}"
    for action, actor, reason, version, details in specs:
        store_registry.record(
            project, action, actor=actor, version=version, reason=reason, details=details
        )
    assert store_registry.verify(project).ok

    count = len(specs)
    seq = where % count + 1
    if tampering == "edit":
        with store_registry.store.engine.begin() as connection:
            current = connection.execute(
                sa.select(EVENTS.c[column]).where(EVENTS.c.project == project, EVENTS.c.seq == seq)
            ).scalar()
            connection.execute(
                EVENTS.update()
                .where(EVENTS.c.project == project, EVENTS.c.seq == seq)
                .values({column: edited(column, current)})
            )
    elif tampering == "delete":
        execute(
            store_registry,
            "DELETE FROM charter_events WHERE project = :p AND seq = :s",
            p=project,
            s=seq,
        )
    else:
        second = (seq + other % (count - 1)) % count + 1  # any entry but `seq`
        swap_seq(store_registry, project, seq, second)

    check = store_registry.verify(project)
    assert not check.ok
    assert any(f"#{seq}" in p for p in check.problems), check.problems
