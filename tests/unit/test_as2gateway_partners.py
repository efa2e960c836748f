"""The partners' sendTimeout is asked for once an hour, and a failure is retried a minute on."""

from __future__ import annotations

from as2sync.backends.as2gateway import partners
from as2sync.backends.as2gateway.model import Gateway, Partner
from as2sync.backends.as2gateway.partners import SendTimeouts
from as2sync.errors import TransientError


class Directory:
    """The one Gateway method SendTimeouts uses, counting its calls."""

    def __init__(self, *answers: list[Partner] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def partners(self) -> list[Partner]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def gateway(directory: Directory) -> Gateway:
    return directory  # type: ignore[return-value]  # only partners() is called


def test_the_list_is_asked_for_once_and_kept_for_an_hour() -> None:
    directory = Directory([Partner("ACME", send_timeout=300), Partner("SLOW")])
    timeouts = SendTimeouts()
    assert timeouts.of(gateway(directory), "ACME", 1000.0) == 300
    assert timeouts.of(gateway(directory), "SLOW", 1001.0) is None  # not given
    assert timeouts.of(gateway(directory), "NOPE", 1000.0 + partners.REFRESH_SECONDS - 1) is None
    assert directory.calls == 1
    timeouts.of(gateway(directory), "ACME", 1000.0 + partners.REFRESH_SECONDS)
    assert directory.calls == 2


def test_a_failed_list_keeps_the_last_one_and_is_retried_a_minute_later() -> None:
    directory = Directory(
        [Partner("ACME", send_timeout=60)],
        TransientError("down"),
        [Partner("ACME", send_timeout=90)],
    )
    timeouts = SendTimeouts()
    start = 5000.0
    assert timeouts.of(gateway(directory), "ACME", start) == 60
    later = start + partners.REFRESH_SECONDS
    assert timeouts.of(gateway(directory), "ACME", later) == 60  # failed: the last list
    assert timeouts.of(gateway(directory), "ACME", later + partners.RETRY_SECONDS - 1) == 60
    assert directory.calls == 2
    assert timeouts.of(gateway(directory), "ACME", later + partners.RETRY_SECONDS) == 90
    assert directory.calls == 3


def test_a_test_and_a_production_partner_of_one_id_count_the_longer_wait() -> None:
    directory = Directory(
        [
            Partner("ACME", partner_type="Production", send_timeout=60),
            Partner("ACME", partner_type="Test", send_timeout=240),
        ]
    )
    assert SendTimeouts().of(gateway(directory), "ACME", 0.0) == 240


def test_the_grace_is_the_partners_send_timeout_and_a_half_at_least_the_floor() -> None:
    assert partners.resend_grace(120, 60) == 120
    assert partners.resend_grace(120, 300) == 450
    assert partners.resend_grace(1, 0) == 1
    assert partners.resend_grace(120, None) == 450  # unknown: the long end of what is usual
