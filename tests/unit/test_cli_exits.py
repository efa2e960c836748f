"""The one place where errors become messages and exit codes (``as2sync.cli.exits``)."""

from __future__ import annotations

import pytest

from as2sync.cli.exits import ExitCode, report
from as2sync.errors import (
    As2SyncError,
    AuthError,
    ConfigError,
    ConfigProblem,
    ContentChanged,
    LedgerConflict,
    LedgerError,
    LockError,
    StorageError,
    TransientError,
    UnknownOutcome,
)
from as2sync.log import register_secret


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError([ConfigProblem("gateway.url", "missing")]), ExitCode.CONFIG),
        (AuthError("401"), ExitCode.CONFIG),
        (LockError("another as2sync holds /var/lib/as2sync"), ExitCode.LOCKED),
        (LedgerError("schema 9 is newer"), ExitCode.LEDGER),
        (LedgerConflict("unique key"), ExitCode.LEDGER),
        (TransientError("connection refused"), ExitCode.PROBLEM),
        (UnknownOutcome("timed out"), ExitCode.PROBLEM),
        (StorageError("disk full"), ExitCode.PROBLEM),
        (ContentChanged("changed"), ExitCode.PROBLEM),
        (As2SyncError("anything else"), ExitCode.PROBLEM),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_error_has_its_exit_code(
    error: As2SyncError | KeyboardInterrupt, code: ExitCode
) -> None:
    assert report(error) == code


def test_exit_codes_are_the_documented_numbers() -> None:
    # systemd's RestartPreventExitStatus, cron jobs and monitoring scripts depend on these.
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 4, 130]


def test_every_config_problem_is_listed_with_its_key_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    problems = [ConfigProblem("gateway.url", "missing"), ConfigProblem("", "no folders")]
    report(ConfigError(problems))
    assert capsys.readouterr().err.splitlines() == [
        "as2sync: configuration problems:",
        "  gateway.url: missing",
        "  no folders",
    ]


def test_messages_never_show_a_registered_secret(capsys: pytest.CaptureFixture[str]) -> None:
    register_secret("Exits-S3cret-Pw")
    for error in (
        AuthError("bad password Exits-S3cret-Pw"),
        ConfigError([ConfigProblem("gateway.password", "Exits-S3cret-Pw is too short")]),
        LockError("held by Exits-S3cret-Pw"),
        LedgerError("Exits-S3cret-Pw"),
        TransientError("Exits-S3cret-Pw"),
    ):
        report(error)
        err = capsys.readouterr().err
        assert err.startswith("as2sync: ")
        assert "Exits-S3cret-Pw" not in err


def test_an_interrupt_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    report(KeyboardInterrupt())
    assert capsys.readouterr().err == ""
