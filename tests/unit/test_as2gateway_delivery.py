"""The AS2 Gateway v1 delivery rules (what one tracking pass concludes), tested as
properties over generated inputs where they have them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from as2sync.backends.as2gateway import delivery
from as2sync.backends.as2gateway.delivery import TrackKind
from as2sync.backends.as2gateway.model import Attachment, Mdn, MessageInfo

STATION, PARTNER = "MYSTATION", "ACME"
NOW = 1_700_000_000.0


def _info(
    mid: str,
    persisted: float,
    attachments: tuple[Attachment, ...],
    sender: str = STATION,
    receiver: str = PARTNER,
) -> MessageInfo:
    return MessageInfo(mid, int(persisted * 1000), sender, receiver, attachments)


# -- tracking ---------------------------------------------------------------------------------


def _sent(status: str | None, mdn: str | None = "Received", content: str = "") -> MessageInfo:
    info = _info("<m@gw>", NOW, (Attachment("a.edi", 10),))
    return MessageInfo(
        info.message_id,
        info.persisted_ms,
        info.sender_id,
        info.receiver_id,
        info.attachments,
        delivery_status=status,
        mdn_status=mdn,
        mdn=Mdn(None, True, content) if content else None,
    )


def test_delivered_is_final() -> None:
    action = delivery.track_decision(
        failed_seen=0, sent=_sent("Delivered"), failed=[], queued=False
    )
    assert action.kind == TrackKind.DELIVERED
    assert action.mdn_status == "Received"


def test_not_delivered_with_an_error_mdn_is_a_failure_with_its_text() -> None:
    sent = _sent("Not Delivered", "Received", "decryption failed")
    action = delivery.track_decision(failed_seen=0, sent=sent, failed=[], queued=False)
    assert action.kind == TrackKind.FAILED
    assert "decryption failed" in (action.reason or "")


def test_a_failed_attempt_while_still_queued_is_not_final() -> None:
    failed = [_info("<m@gw>", NOW, ())]
    action = delivery.track_decision(failed_seen=1, sent=None, failed=failed, queued=True)
    assert action.kind == TrackKind.UPDATE
    assert action.failed_seen == 0


def test_failed_and_not_queued_must_be_seen_twice_before_it_counts() -> None:
    failed = [_info("<m@gw>", NOW, ())]
    first = delivery.track_decision(failed_seen=0, sent=None, failed=failed, queued=False)
    assert first.kind == TrackKind.UPDATE and first.failed_seen == 1
    second = delivery.track_decision(failed_seen=1, sent=None, failed=failed, queued=False)
    assert second.kind == TrackKind.FAILED
    assert "1 failed attempt" in (second.reason or "")


@given(
    failed_seen=st.integers(min_value=0, max_value=5),
    status=st.sampled_from([None, "Delivered", "Not Delivered", "No Status"]),
    in_sent=st.booleans(),
    failures=st.integers(min_value=0, max_value=3),
    queued=st.booleans(),
)
def test_tracking_only_fails_what_the_gateway_gave_up_on(
    failed_seen: int, status: str | None, in_sent: bool, failures: int, queued: bool
) -> None:
    failed = [_info("<m@gw>", NOW + i, ()) for i in range(failures)]
    action = delivery.track_decision(
        failed_seen=failed_seen,
        sent=_sent(status) if in_sent else None,
        failed=failed,
        queued=queued,
    )
    if action.kind == TrackKind.FAILED:
        assert (in_sent and status == "Not Delivered") or (
            not in_sent and failures and not queued and failed_seen + 1 >= 2
        )
        assert action.reason
    if action.kind == TrackKind.DELIVERED:
        assert in_sent and status == "Delivered"
