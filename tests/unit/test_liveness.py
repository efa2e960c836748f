"""Loop liveness: deadlines declared by the loops, failure spells, and the two verdicts."""

from __future__ import annotations

import threading
from pathlib import Path

from as2sync.config.schema import Config
from as2sync.daemon.health import Heartbeat, evaluate, read_heartbeat, write_heartbeat
from as2sync.daemon.liveness import ErrorKind, LoopBeat, Loops, problems, restart_needed

AGE = 300.0
UNREACHABLE = 900.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def verdicts(loops: Loops, clock: Clock) -> tuple[list[str], list[str]]:
    beats = loops.snapshot()
    found = [
        p
        for name, beat in beats.items()
        for p in problems(name, beat, clock.now, max_loop_age=AGE, max_unreachable=UNREACHABLE)
    ]
    return found, restart_needed(beats, clock.now, max_loop_age=AGE)


def test_a_loop_that_sleeps_for_an_hour_on_purpose_is_healthy_all_hour() -> None:
    clock = Clock()
    loops = Loops(clock)
    loops.register("maintenance")
    loops.begin("maintenance")
    loops.succeeded("maintenance", 3600)
    clock.now += 3600 + AGE - 1
    assert verdicts(loops, clock) == ([], [])
    clock.now += 2  # it did not wake up when it said it would
    found, restart = verdicts(loops, clock)
    assert found == ["maintenance loop is stuck: its next pass is 301s overdue (limit 300s)"]
    assert restart == ["maintenance"]


def test_a_pass_that_hangs_is_stuck_but_one_that_keeps_working_is_not() -> None:
    clock = Clock()
    loops = Loops(clock)
    worker = threading.Thread(target=lambda: None)
    loops.begin("inbound")  # this thread runs the inbound pass
    for _ in range(10):  # a long drain: a gateway request finishes every 100 s
        clock.now += 100
        loops.touch()
    assert verdicts(loops, clock) == ([], [])
    # Activity on another thread (not a loop's) says nothing about the inbound loop.
    worker.run = loops.touch  # type: ignore[method-assign]
    clock.now += AGE + 1
    worker.start()
    worker.join()
    found, restart = verdicts(loops, clock)
    assert found == ["inbound loop is stuck: no progress in its current pass for 301s (limit 300s)"]
    assert restart == ["inbound"]


def test_a_loop_failing_on_a_bug_is_unhealthy_with_its_error_and_wants_a_restart() -> None:
    clock = Clock()
    loops = Loops(clock)
    for _ in range(5):
        loops.begin("inbound")
        clock.now += 1
        loops.failed("inbound", KeyError("no such row"), ErrorKind.BUG, 60)  # back-off
        clock.now += 60
    found, restart = verdicts(loops, clock)
    assert found == [
        "inbound loop has failed every pass for 304s (5 failures, limit 300s); "
        "last error: KeyError: 'no such row'"
    ]
    assert restart == ["inbound"]
    loops.begin("inbound")
    loops.succeeded("inbound", 1)  # one good pass ends the spell
    assert verdicts(loops, clock) == ([], [])


def test_a_storage_failure_is_unhealthy_but_no_reason_to_restart() -> None:
    clock = Clock()
    loops = Loops(clock)
    loops.begin("outbound")
    loops.failed("outbound", OSError(28, "No space left on device"), ErrorKind.STORAGE, 10)
    clock.now += AGE + 1
    loops.begin("outbound")
    loops.failed("outbound", OSError(28, "No space left on device"), ErrorKind.STORAGE, 10)
    found, restart = verdicts(loops, clock)
    assert len(found) == 1 and "[Errno 28] No space left on device" in found[0]
    assert restart == []


def test_gateway_failures_count_only_after_max_unreachable_and_never_restart() -> None:
    clock = Clock()
    loops = Loops(clock)
    loops.begin("inbound")
    loops.failed("inbound", ConnectionError("refused"), ErrorKind.GATEWAY, 300)
    for _ in range(3):
        clock.now += 300
        loops.begin("inbound")
        loops.failed("inbound", ConnectionError("refused"), ErrorKind.GATEWAY, 300)
    assert verdicts(loops, clock) == ([], [])  # 900 s: not beyond max_unreachable yet
    clock.now += 1
    found, restart = verdicts(loops, clock)
    assert found == [
        "inbound loop has failed every pass for 901s (4 failures, limit 900s); "
        "last error: ConnectionError: refused"
    ]
    assert restart == []


def test_a_secret_in_an_error_never_reaches_the_heartbeat(tmp_path: Path) -> None:
    from as2sync.log import register_secret

    register_secret("Sup3r-Secret-Pw")
    clock = Clock()
    loops = Loops(clock)
    loops.begin("inbound")
    loops.failed("inbound", ValueError("login Sup3r-Secret-Pw refused"), ErrorKind.BUG, 1)
    write_heartbeat(tmp_path, Heartbeat(loops=loops.snapshot()))
    assert "Sup3r-Secret-Pw" not in (tmp_path / "health.json").read_text()


def test_the_heartbeat_round_trips_and_health_names_the_failing_loop(tmp_path: Path) -> None:
    import os

    clock = Clock()
    loops = Loops(clock)
    loops.begin("maintenance")
    loops.failed("maintenance", RuntimeError("boom"), ErrorKind.BUG, 3600)
    beat = Heartbeat(pid=os.getpid(), started_at=clock.now, updated_at=clock.now + 301)
    beat.gateway_ok_at = clock.now + 301
    beat.loops = loops.snapshot()
    write_heartbeat(tmp_path, beat)
    read = read_heartbeat(tmp_path)
    assert read is not None and read.loops == beat.loops
    config = Config.model_validate(
        {
            "gateway": {"url": "https://gw.example/v1", "username": "u", "password": "p"},
            "state_dir": str(tmp_path),
            "folders": {"root": str(tmp_path)},
        }
    )
    assert evaluate(config, read, clock.now + 302) == [
        "maintenance loop has failed every pass for 302s (1 failures, limit 300s); "
        "last error: RuntimeError: boom"
    ]


def test_a_heartbeat_written_by_the_previous_version_is_still_read(tmp_path: Path) -> None:
    (tmp_path / "health.json").write_text('{"pid": 1, "loops": {"inbound": 123.0}}')
    beat = read_heartbeat(tmp_path)
    assert beat is not None
    assert beat.loops == {"inbound": LoopBeat(due_at=123.0)}
