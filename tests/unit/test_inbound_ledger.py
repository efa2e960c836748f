"""The inbound ledger: one named function per state change, queries, retention."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from as2sync.backends.as2gateway.model import Attachment, MessageInfo
from as2sync.backends.as2gateway.receiving import pending_of
from as2sync.errors import LedgerError
from as2sync.ledger import inbound as li
from as2sync.ledger.db import (
    LEDGER_FILE,
    SCHEMA_VERSION,
    Ledger,
    Meta,
    open_ledger,
    open_ledger_read_only,
)
from as2sync.ledger.inbound import FileKind, FileState, InboundMessageRow, InboundState


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = open_ledger(tmp_path / "state")
    yield ledger
    ledger.close()


def info(mid: str = "<m1@x>", *sizes: int) -> MessageInfo:
    return MessageInfo(
        message_id=mid,
        persisted_ms=1_700_000_000_000,
        sender_id="ACME",
        receiver_id="ME",
        attachments=tuple(Attachment(f"f{k}.edi", s) for k, s in enumerate(sizes or (3,))),
        subject="orders",
        signed=True,
        mdn_status="Pending",
    )


def fetching(ledger: Ledger, mid: str = "<m1@x>", *, now: float = 100.0) -> int:
    with ledger.transaction() as s:
        return li.record_fetching(s, pending_of(info(mid, 3, 4), "ME", "ACME"), now=now).id


def store_fully(ledger: Ledger, row_id: int, *, now: float = 100.0) -> None:
    with ledger.transaction() as s:
        for k in range(2):
            f = li.plan_file(
                s,
                message_row=row_id,
                index=k,
                kind=FileKind.DATA,
                name=f"f{k}.edi",
                temp_path=f"/t/{row_id}-{k}",
                final_path=f"/inbox/f{k}.edi",
                sha256="0" * 64,
                size=3,
                now=now,
            )
            li.file_written(s, [f.id], now=now)
        li.message_stored(s, [row_id], now=now)


def test_a_message_goes_from_fetching_to_stored_to_read_to_deleted(ledger: Ledger) -> None:
    row_id = fetching(ledger)
    with ledger.read() as s:
        row = li.latest(s, "<m1@x>")
        assert row is not None and row.state == InboundState.FETCHING
        assert row.attachment_list() == (Attachment("f0.edi", 3), Attachment("f1.edi", 4))
        assert row.total_size == 7
    store_fully(ledger, row_id, now=110)
    with ledger.transaction() as s:
        li.message_read(s, [row_id], now=120)
    with ledger.read() as s:
        row = li.get_message(s, row_id)
        assert row is not None
        assert (row.state, row.stored_at, row.read_at) == (InboundState.READ, 110, 120)
    with ledger.transaction() as s:
        li.message_deleted(s, [row_id], now=130)
    with ledger.read() as s:
        assert li.get_message(s, row_id).state == InboundState.DELETED  # type: ignore[union-attr]


def state_of(ledger: Ledger, row_id: int) -> InboundState:
    with ledger.read() as s:
        row = li.get_message(s, row_id)
        assert row is not None
        return row.state


def test_views_are_snapshots_that_cannot_be_changed(ledger: Ledger) -> None:
    row_id = fetching(ledger)
    with ledger.read() as s:
        row = li.get_message(s, row_id)
    assert row is not None  # still readable after the session ended
    with pytest.raises(AttributeError):
        row.state = InboundState.STORED  # type: ignore[misc]
    assert state_of(ledger, row_id) is InboundState.FETCHING


ILLEGAL_FROM_FETCHING = [
    pytest.param(lambda s, i: li.message_read(s, [i], now=1), "stored", id="read"),
    pytest.param(lambda s, i: li.message_deleted(s, [i], now=1), "read", id="deleted"),
    pytest.param(lambda s, i: li.redelivered(s, i, now=1), "read, deleted", id="redelivered"),
]


@pytest.mark.parametrize(("change", "expected"), ILLEGAL_FROM_FETCHING)
def test_an_illegal_state_change_raises_and_changes_nothing(
    ledger: Ledger, change: Callable[[Session, int], None], expected: str
) -> None:
    row_id = fetching(ledger)
    with (
        pytest.raises(LedgerError, match=f"is fetching, expected {expected}"),
        ledger.transaction() as s,
    ):
        change(s, row_id)
    assert state_of(ledger, row_id) is InboundState.FETCHING


def test_a_finished_message_cannot_be_fetched_stored_or_read_again(ledger: Ledger) -> None:
    row_id = fetching(ledger)
    store_fully(ledger, row_id)
    with ledger.transaction() as s:
        li.message_read(s, [row_id], now=120)
    for change in (
        lambda s: li.fetch_failed(s, row_id, "late", now=130, retry_at=190),
        lambda s: li.retry_requested(s, row_id, now=130),
        lambda s: li.message_stored(s, [row_id], now=130),
        lambda s: li.message_read(s, [row_id], now=130),
    ):
        with pytest.raises(LedgerError, match="is read, expected"), ledger.transaction() as s:
            change(s)
    with ledger.read() as s:
        row = li.get_message(s, row_id)
        assert row is not None
        assert (row.state, row.attempts, row.read_at) == (InboundState.READ, 0, 120)


def test_one_illegal_row_refuses_the_whole_bulk_change(ledger: Ledger) -> None:
    stored = fetching(ledger, "<a@x>")
    store_fully(ledger, stored)
    unstored = fetching(ledger, "<b@x>")
    with (
        pytest.raises(LedgerError, match=f"inbound message {unstored} is fetching"),
        ledger.transaction() as s,
    ):
        li.message_read(s, [stored, unstored], now=120)
    assert state_of(ledger, stored) is InboundState.STORED
    with (
        pytest.raises(LedgerError, match="inbound message 999 does not exist"),
        ledger.transaction() as s,
    ):
        li.message_stored(s, [999], now=120)


def test_files_are_planned_only_for_a_message_being_fetched_and_written_once(
    ledger: Ledger,
) -> None:
    row_id = fetching(ledger)
    store_fully(ledger, row_id)
    with ledger.read() as s:
        before = li.files_of(s, row_id)
    written = before[0]
    with (
        pytest.raises(LedgerError, match=f"inbound message {row_id} is stored"),
        ledger.transaction() as s,
    ):
        li.plan_file(
            s, message_row=row_id, index=-1, kind=FileKind.METADATA, name="m.as2.json",
            temp_path="/t/x", final_path="/inbox/x", sha256="0" * 64, size=3, now=1,
        )  # fmt: skip
    with (
        pytest.raises(LedgerError, match=f"inbound file {written.id} is written"),
        ledger.transaction() as s,
    ):
        li.file_written(s, [written.id], now=2)
    with (
        pytest.raises(LedgerError, match=f"inbound file {written.id} is written"),
        ledger.transaction() as s,
    ):
        li.replan_file(s, written.id, "/inbox/elsewhere", now=2)
    with ledger.read() as s:
        assert li.files_of(s, row_id) == before


def test_a_new_generation_follows_only_a_stored_or_finished_one(ledger: Ledger) -> None:
    row_id = fetching(ledger)
    with pytest.raises(LedgerError, match="while it is being fetched"), ledger.transaction() as s:
        li.record_fetching(s, pending_of(info(), "ME", "ACME"), now=1, generation=2)
    with (
        pytest.raises(LedgerError, match="generation 3 does not follow"),
        ledger.transaction() as s,
    ):
        li.record_fetching(s, pending_of(info(), "ME", "ACME"), now=1, generation=3)
    with (
        pytest.raises(LedgerError, match="generation 2 does not follow"),
        ledger.transaction() as s,
    ):
        li.record_fetching(s, pending_of(info("<new@x>"), "ME", "ACME"), now=1, generation=2)
    store_fully(ledger, row_id)
    with ledger.transaction() as s:
        second = li.record_fetching(s, pending_of(info(), "ME", "ACME"), now=1, generation=2)
    assert (second.generation, second.state) == (2, InboundState.FETCHING)


def test_deleting_a_message_retention_pruned_meanwhile_records_nothing(ledger: Ledger) -> None:
    """The delete loop reads READ rows, deletes them on the gateway, then records DELETED;
    retention runs in its own thread and may prune an old READ row in between."""
    pruned = fetching(ledger, "<old@x>", now=10)
    store_fully(ledger, pruned, now=10)
    kept = fetching(ledger, "<new@x>", now=1000)
    store_fully(ledger, kept, now=1000)
    with ledger.transaction() as s:
        li.message_read(s, [pruned], now=10)
        li.message_read(s, [kept], now=1000)
    with ledger.transaction() as s:
        assert li.prune(s, older_than=500) == 1
    with ledger.transaction() as s:
        li.message_deleted(s, [pruned, kept], now=1100)
    assert state_of(ledger, kept) is InboundState.DELETED


def test_a_failed_fetch_counts_attempts_and_schedules_the_next(ledger: Ledger) -> None:
    row_id = fetching(ledger)
    with ledger.transaction() as s:
        li.fetch_failed(s, row_id, "size mismatch", now=10, retry_at=70)
    with ledger.read() as s:
        assert li.due_fetching(s, 69) == []
        (row,) = li.due_fetching(s, 70)
        assert (row.attempts, row.last_error) == (1, "size mismatch")
        (failure,) = li.recent_failures(s)
        assert failure.last_error == "size mismatch"
    with ledger.transaction() as s:
        li.retry_requested(s, row_id, now=11)
    with ledger.read() as s:
        assert [r.id for r in li.due_fetching(s, 0)] == [row_id]


def test_a_replanned_file_names_its_new_place(ledger: Ledger) -> None:
    row_id = fetching(ledger)
    with ledger.transaction() as s:
        f = li.plan_file(
            s,
            message_row=row_id,
            index=0,
            kind=FileKind.DATA,
            name="f0.edi",
            temp_path="/t/1-0",
            final_path="/inbox/f0.edi",
            sha256="0" * 64,
            size=3,
            now=1,
        )
        li.replan_file(s, f.id, "/inbox/f0 (2).edi", now=2)
    with ledger.read() as s:
        (planned,) = li.planned_files(s)
        assert (planned.final_path, planned.state) == ("/inbox/f0 (2).edi", FileState.PLANNED)


def test_generations_keep_the_newest_as_latest(ledger: Ledger) -> None:
    first = fetching(ledger)
    store_fully(ledger, first)
    with ledger.transaction() as s:
        again = pending_of(info("<m1@x>"), "ME", "ACME")
        second = li.record_fetching(s, again, now=200, generation=2).id
    with ledger.read() as s:
        assert li.latest(s, "<m1@x>").id == second  # type: ignore[union-attr]
        assert li.latest_many(s, ["<m1@x>", "<nope@x>"])["<m1@x>"].id == second


def test_status_queries_count_states_and_list_recent_messages(ledger: Ledger) -> None:
    a = fetching(ledger, "<a@x>")
    fetching(ledger, "<b@x>")
    store_fully(ledger, a)
    with ledger.read() as s:
        counts = {(c.partner, c.state): c.count for c in li.counts_by_state(s)}
        assert counts == {("ACME", "fetching"): 1, ("ACME", "stored"): 1}
        assert li.pending_count(s) == 2
        rows = li.recent(s, limit=10)
        assert {r.message_id for r in rows} == {"<a@x>", "<b@x>"}
        stored = next(r for r in rows if r.message_id == "<a@x>")
        assert stored.files == ("/inbox/f0.edi", "/inbox/f1.edi")
        assert li.recent(s, partner="OTHER") == []


def test_prune_removes_only_finished_messages_older_than_the_cutoff(ledger: Ledger) -> None:
    old_read = fetching(ledger, "<old@x>", now=10)
    store_fully(ledger, old_read, now=10)
    with ledger.transaction() as s:
        li.message_read(s, [old_read], now=10)
    old_unfinished = fetching(ledger, "<stuck@x>", now=10)
    new_read = fetching(ledger, "<new@x>", now=1000)
    store_fully(ledger, new_read, now=1000)
    with ledger.transaction() as s:
        li.message_read(s, [new_read], now=1000)
    with ledger.transaction() as s:
        assert li.prune(s, older_than=500) == 1
    with ledger.read() as s:
        assert li.get_message(s, old_read) is None
        assert li.files_of(s, old_read) == []
        assert li.get_message(s, old_unfinished) is not None
        assert li.get_message(s, new_read) is not None


def test_ids_that_differ_only_by_angle_brackets_are_two_messages(ledger: Ledger) -> None:
    with ledger.transaction() as s:
        bracketed = li.record_fetching(s, pending_of(info("<m1@x>"), "ME", "ACME"), now=1)
        bare = li.record_fetching(s, pending_of(info("m1@x"), "ME", "GLOBEX"), now=1)
    with ledger.read() as s:
        assert li.latest(s, "<m1@x>").id == bracketed.id  # type: ignore[union-attr]
        assert li.latest(s, "m1@x").id == bare.id  # type: ignore[union-attr]
        assert li.latest(s, "<<m1@x>>") is None
        found = li.latest_many(s, ["m1@x", "<m1@x>"])
        assert {k: r.partner for k, r in found.items()} == {"<m1@x>": "ACME", "m1@x": "GLOBEX"}


def test_an_operator_may_type_an_id_without_its_brackets_unless_that_is_ambiguous(
    ledger: Ledger,
) -> None:
    fetching(ledger, "<a@x>")
    fetching(ledger, "<b@x>")
    fetching(ledger, "b@x")
    with ledger.read() as s:
        assert li.ids_like(s, "a@x") == ["<a@x>"]
        assert li.ids_like(s, "<a@x>") == ["<a@x>"]
        assert li.ids_like(s, "b@x") == ["b@x"]  # exactly recorded wins
        assert li.ids_like(s, " b@x ") == ["<b@x>", "b@x"]  # ambiguous
        assert li.ids_like(s, "c@x") == []


SCHEMA_3_COLUMNS = (  # the v1 facts as columns of their own, as schema 1 to 3 had them
    ("partner_type", "VARCHAR(32)"),
    ("sender_id", "VARCHAR(256) NOT NULL DEFAULT ''"),
    ("receiver_id", "VARCHAR(256) NOT NULL DEFAULT ''"),
    ("signed", "BOOLEAN NOT NULL DEFAULT 0"),
    ("encrypted", "BOOLEAN NOT NULL DEFAULT 0"),
    ("compressed", "BOOLEAN NOT NULL DEFAULT 0"),
    ("mdn_status", "VARCHAR(64)"),
)


def without_remote_column(db: sqlite3.Connection) -> None:
    """Undo schema 4: the ``remote`` facts back into columns of their own (the submissions
    table holds no row here; its v1 columns come back with their defaults)."""
    for name, declared in SCHEMA_3_COLUMNS:
        db.execute(f"ALTER TABLE inbound_messages ADD COLUMN {name} {declared}")
        fill = f"UPDATE inbound_messages SET {name} = json_extract(remote, '$.{name}')"  # noqa: S608 - constant names
        db.execute(fill)
    db.execute("ALTER TABLE inbound_messages DROP COLUMN remote")
    submissions = {row[1] for row in db.execute("PRAGMA table_info(outbound_submissions)")}
    if "remote" in submissions:
        db.execute(
            "ALTER TABLE outbound_submissions "
            "ADD COLUMN partner_type VARCHAR(16) NOT NULL DEFAULT 'production'"
        )
        db.execute(
            "ALTER TABLE outbound_submissions "
            "ADD COLUMN gateway_failed_seen INTEGER NOT NULL DEFAULT 0"
        )
        db.execute("ALTER TABLE outbound_submissions DROP COLUMN remote")


def downgrade_to_schema_1(state: Path) -> None:
    """Rewrite a ledger as schema 1 left it: keys without <>, the v1 facts in columns of their
    own, version 1."""
    db = sqlite3.connect(state / LEDGER_FILE)
    with db:
        without_remote_column(db)
        for row_id, message_id in db.execute("SELECT id, message_id FROM inbound_messages"):
            bare = message_id.strip()
            if bare.startswith("<") and bare.endswith(">"):
                bare = bare[1:-1]
            db.execute("UPDATE inbound_messages SET message_key = ? WHERE id = ?", (bare, row_id))
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.close()


def test_a_schema_1_ledger_is_migrated_to_exact_keys_and_keeps_every_row(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ledger = open_ledger(state)
    stored = fetching(ledger, "<m1@x>")
    store_fully(ledger, stored)
    with ledger.transaction() as s:
        li.message_read(s, [stored], now=120)
        # Schema 1 keys: "<a@x>" -> "a@x", "<<a@x>>" -> "<a@x>". Rewritten in row order in
        # one step, the first row's new key would collide with the second row's old one.
        inner = li.record_fetching(s, pending_of(info("<a@x>"), "ME", "ACME"), now=1).id
        nested = li.record_fetching(s, pending_of(info("<<a@x>>"), "ME", "ACME"), now=1).id
        # Schema 1 took "m1@x" for generation 2 of "<m1@x>" (store-again); the ledger no
        # longer records a generation without its predecessor, so the row is made by hand.
        again = li.record_fetching(s, pending_of(info("m1@x"), "ME", "GLOBEX"), now=1).id
        s.execute(
            update(InboundMessageRow).where(InboundMessageRow.id == again).values(generation=2)
        )
    ledger.close()
    downgrade_to_schema_1(state)

    ledger = open_ledger(state)
    try:
        with ledger.read() as s:
            version = s.scalar(select(Meta.value).where(Meta.key == "schema_version"))
            assert version == str(SCHEMA_VERSION)
            rows = {
                r.id: (r.message_key, r.generation, r.state)
                for r in s.scalars(select(InboundMessageRow))
            }
        assert rows == {
            stored: ("<m1@x>", 1, "read"),
            nested: ("<<a@x>>", 1, "fetching"),
            inner: ("<a@x>", 1, "fetching"),
            again: ("m1@x", 2, "fetching"),
        }
        with ledger.read() as s:
            # The stored message is found by the exact ID the gateway lists: never stored again.
            assert li.latest(s, "<m1@x>").state == InboundState.READ  # type: ignore[union-attr]
            assert len(li.files_of(s, stored)) == 2
    finally:
        ledger.close()


FIXTURE = Path(__file__).parents[1] / "fixtures" / "ledger_schema3_inbound.sql"


def ledger_from_fixture(state: Path) -> None:
    """A ledger as the code before states were Enum columns wrote it (schema 3, at 5eabfd3):
    one message in each state, a PLANNED file, metadata sidecars, a second generation."""
    state.mkdir()
    db = sqlite3.connect(state / LEDGER_FILE)
    db.executescript(FIXTURE.read_text(encoding="utf-8"))
    db.close()


def stored_states(state: Path) -> tuple[dict[int, str], dict[int, tuple[str, str]]]:
    db = sqlite3.connect(state / LEDGER_FILE)
    try:
        messages = dict(db.execute("SELECT id, state FROM inbound_messages"))
        files = {i: (k, st) for i, k, st in db.execute("SELECT id, kind, state FROM inbound_files")}
    finally:
        db.close()
    return messages, files


def test_a_ledger_written_before_states_were_enums_reads_and_moves_on_unchanged(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    ledger_from_fixture(state)
    ledger = open_ledger(state)
    try:
        with ledger.read() as s:
            got = {
                (r.id, r.message_id, r.generation): (r.state, r.attempts, r.redeliveries)
                for st in InboundState
                for r in li.in_state(s, st)
            }
            assert all(type(st) is InboundState for st, _a, _r in got.values())
            assert got == {
                (1, "<fetching@x>", 1): (InboundState.FETCHING, 1, 0),
                (2, "<planned@x>", 1): (InboundState.FETCHING, 0, 0),
                (3, "<stored@x>", 1): (InboundState.STORED, 0, 0),
                (4, "<read@x>", 1): (InboundState.READ, 0, 0),
                (5, "deleted@x", 1): (InboundState.DELETED, 0, 1),
                (6, "<read@x>", 2): (InboundState.FETCHING, 0, 0),
                (7, "<empty@x>", 1): (InboundState.FETCHING, 0, 0),
            }
            assert li.latest(s, "<read@x>").id == 6  # type: ignore[union-attr]
            assert [r.id for r in li.due_fetching(s, 70)] == [2, 6, 7]
            assert li.get_message(s, 1).attachment_list() == (  # type: ignore[union-attr]
                Attachment("f0.edi", 3),
                Attachment("f1.edi", 4),
            )
            assert [(f.kind, f.state) for f in li.files_of(s, 3)] == [
                (FileKind.METADATA, FileState.WRITTEN),
                (FileKind.DATA, FileState.WRITTEN),
                (FileKind.DATA, FileState.WRITTEN),
            ]
            (planned,) = li.planned_files(s)
            assert (planned.id, planned.kind, planned.state) == (
                1,
                FileKind.DATA,
                FileState.PLANNED,
            )
            counts = {(c.partner, c.state): c.count for c in li.counts_by_state(s)}
            assert counts == {
                ("ACME", "fetching"): 3,
                ("ACME", "stored"): 1,
                ("GLOBEX", "deleted"): 1,
                ("GLOBEX", "fetching"): 1,
                ("GLOBEX", "read"): 1,
            }
            assert li.pending_count(s) == 5
        with ledger.transaction() as s:
            li.file_written(s, [1], now=80)
            li.message_stored(s, [2], now=80)
            li.message_read(s, [3], now=80)
    finally:
        ledger.close()
    # What this code writes is what the code before it wrote and reads.
    messages, files = stored_states(state)
    assert messages == {
        1: "fetching",
        2: "stored",
        3: "read",
        4: "read",
        5: "deleted",
        6: "fetching",
        7: "fetching",
    }
    assert files[1] == ("data", "written")
    assert files[4] == ("metadata", "written")
    read_only = open_ledger_read_only(state)
    try:
        with read_only.read() as s:
            assert li.pending_count(s) == 4
    finally:
        read_only.close()


RELEASE_FIXTURE = Path(__file__).parents[1] / "fixtures" / "ledger_release_inbound.sql"
FIXTURE_ROOT = "/fixture-root"


def ledger_from_release(state: Path, root: Path) -> None:
    """A ledger the released code (860e24e, schema 3) wrote with its own ledger functions
    (tests/fixtures/make_release_inbound_ledger.py), its paths moved under ``root``."""
    state.mkdir()
    db = sqlite3.connect(state / LEDGER_FILE)
    db.executescript(RELEASE_FIXTURE.read_text(encoding="utf-8").replace(FIXTURE_ROOT, str(root)))
    db.close()


def release_rows(state: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every received row's neutral columns and every file row, exactly as stored."""
    db = sqlite3.connect(state / LEDGER_FILE)
    try:
        messages = db.execute(
            "SELECT id, message_id, message_key, generation, station, partner, subject, "
            "persisted_ms, attachments, total_size, state, attempts, next_attempt_at, "
            "last_error, redeliveries, created_at, updated_at, stored_at, read_at "
            "FROM inbound_messages ORDER BY id"
        ).fetchall()
        files = db.execute("SELECT * FROM inbound_files ORDER BY id").fetchall()
    finally:
        db.close()
    return messages, files


V1_FACTS_IN_RELEASE = {  # the v1 columns of each row as the release wrote them
    1: ("test", "ACME", "ME", True, True, False, "SENT"),
    2: ("production", "ACME", "ME", True, False, False, None),
    3: (None, "ACME", "ME", False, False, False, None),
    4: ("production", "ACME", "ME", False, False, True, None),
    5: ("production", "ACME", "ME", False, False, False, None),
    6: ("production", "ACME", "ME", False, False, False, None),
    7: ("test", "ME", "GLOBEX", True, True, False, "SENT"),
    8: ("production", "ACME", "ME", False, False, False, None),
}


def test_a_ledger_of_the_release_upgrades_to_schema_4_keeping_every_row_and_fact(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    ledger_from_release(state, tmp_path)
    before = release_rows(state)
    ledger = open_ledger(state)
    ledger.close()
    # Every neutral column of every row and every file row is as the release left it.
    assert release_rows(state) == before
    db = sqlite3.connect(state / LEDGER_FILE)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(inbound_messages)")}
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    finally:
        db.close()
    assert version == (str(SCHEMA_VERSION),)
    assert "remote" in columns
    assert not columns & {name for name, _declared in SCHEMA_3_COLUMNS}
    ledger = open_ledger(state)
    try:
        with ledger.read() as s:
            rows = li.messages_by_id(s, range(1, 9))
            assert {
                row_id: tuple(row.remote[name] for name, _declared in SCHEMA_3_COLUMNS)
                for row_id, row in rows.items()
            } == V1_FACTS_IN_RELEASE
            assert all(type(row.remote["signed"]) is bool for row in rows.values())
            assert {r.id: r.state for r in rows.values()} == {
                1: InboundState.FETCHING,
                2: InboundState.FETCHING,
                3: InboundState.FETCHING,
                4: InboundState.STORED,
                5: InboundState.READ,
                6: InboundState.FETCHING,
                7: InboundState.DELETED,
                8: InboundState.FETCHING,
            }
            assert (rows[1].attempts, rows[1].last_error) == (2, "gateway: 503 again")
            assert rows[7].redeliveries == 1
            assert li.latest(s, "<read@x>").generation == 2  # type: ignore[union-attr]
            assert [(f.message_row, f.index, f.kind) for f in li.planned_files(s)] == [
                (2, 1, FileKind.DATA),
                (2, 1, FileKind.METADATA),
            ]
            assert li.fully_written(s) == [3]
            assert li.data_indices(s, [2]) == {2: {0, 1}}
    finally:
        ledger.close()
