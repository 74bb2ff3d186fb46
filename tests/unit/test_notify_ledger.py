"""The send ledger's state machine and the at-most-once send around it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.pii import PiiHasher
from services.notifications.compose import Content, OutgoingMessage
from services.notifications.delivery import delivery_event
from services.notifications.errors import LedgerError, ProviderError
from services.notifications.ledger import (
    TRANSITIONS,
    Replay,
    SendLedger,
    SendRecord,
    SendState,
    check_transition,
    replay_of,
)
from services.notifications.providers import SendReceipt
from services.notifications.requests import Notification
from services.notifications.selection import Senders
from services.notifications.sending import Deliverer
from services.webhooks.records import (
    Channel,
    DeliveryStatus,
    MessageKind,
    Provider,
    delivery_event_id,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ID = "3f2b8c1e-5d4a-4e6f-8a7b-9c0d1e2f3a4b"


@pytest.mark.parametrize("current", list(SendState))
@pytest.mark.parametrize("new", list(SendState))
def test_only_a_claim_in_progress_can_settle(current: SendState, new: SendState) -> None:
    allowed = current is SendState.SENDING and new is not SendState.SENDING
    assert (new in TRANSITIONS[current]) is allowed
    if allowed:
        check_transition(current, new)
    else:
        with pytest.raises(LedgerError):
            check_transition(current, new)


@pytest.mark.parametrize(
    ("state", "reported", "replay"),
    [
        (SendState.SENDING, False, Replay.IN_DOUBT),
        (SendState.SENT, True, Replay.DUPLICATE),
        (SendState.SENT, False, Replay.REPORT),
        (SendState.FAILED, True, Replay.DUPLICATE),
        (SendState.FAILED, False, Replay.REPORT),
        (SendState.IN_DOUBT, True, Replay.DUPLICATE),
        (SendState.IN_DOUBT, False, Replay.REPORT),
    ],
)
def test_a_notification_already_in_the_ledger_is_never_sent_again(
    state: SendState, reported: bool, replay: Replay
) -> None:
    record = SendRecord(ID, state, "SMS", "OTP_SMS", NOW, reported=reported)
    assert replay_of(record) is replay


def test_sqlite_ledger_claims_once_settles_once_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "notify" / "ledger.db"
    ledger = SendLedger(path)
    assert ledger.claim(ID, "SMS", "OTP_SMS", NOW)
    assert not ledger.claim(ID, "SMS", "OTP_SMS", NOW)
    assert ledger.get(ID) == SendRecord(ID, SendState.SENDING, "SMS", "OTP_SMS", NOW)
    sent = ledger.settle(
        ID,
        SendState.SENT,
        NOW + timedelta(seconds=1),
        provider="TWILIO",
        provider_message_id="SM1",
        delivery_status="QUEUED",
        recipient_hash="h",
    )
    assert (sent.state, sent.provider_message_id, sent.reported) == (SendState.SENT, "SM1", False)
    with pytest.raises(LedgerError):
        ledger.settle(ID, SendState.FAILED, NOW)
    with pytest.raises(LedgerError, match="never claimed"):
        ledger.settle("other", SendState.SENT, NOW)
    ledger.mark_reported([ID])
    ledger.close()
    reopened = SendLedger(path)
    record = reopened.get(ID)
    assert record is not None and record.reported and record.state is SendState.SENT
    assert reopened.counts() == {SendState.SENT: 1}
    reopened.close()


# -- the deliverer: a claim before the call, retries only while nothing was sent ------------
class ScriptedSender:
    """A provider double that fails as scripted, then takes the message (no Kafka involved)."""

    provider = Provider.TWILIO

    def __init__(self, failures: list[ProviderError]):
        self.failures = failures
        self.calls = 0

    def send(self, message: OutgoingMessage) -> SendReceipt:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return SendReceipt(Provider.TWILIO, "SM-42", DeliveryStatus.QUEUED)

    def close(self) -> None:
        pass


def otp_message() -> OutgoingMessage:
    notification = Notification(ID, NOW, Channel.SMS, MessageKind.OTP_SMS, "F-1", client_id="C-1")
    return OutgoingMessage(notification, "+15558675310", Content(None, "code 1", None, "1"))


def deliverer(tmp_path: Path, sender: ScriptedSender) -> tuple[Deliverer, list[float]]:
    pauses: list[float] = []
    senders = Senders(email=sender, sms=sender)
    hasher = PiiHasher(b"unit-test-pii-key-0123456789")
    made = Deliverer(
        SendLedger(tmp_path / "ledger.db"),
        senders,
        hasher,
        lambda: NOW,
        attempts=3,
        backoff_s=0.5,
        sleep=pauses.append,
    )
    return made, pauses


def test_a_refused_connection_is_retried_with_backoff_then_sent_once(tmp_path: Path) -> None:
    sender = ScriptedSender([ProviderError("down", retriable=True)] * 2)
    made, pauses = deliverer(tmp_path, sender)
    settled = made.deliver(otp_message())
    assert settled is not None and settled.state is SendState.SENT
    assert (sender.calls, pauses) == (3, [0.5, 1.0])
    assert settled.recipient_hash == PiiHasher(b"unit-test-pii-key-0123456789").phone(
        "+15558675310"
    )
    assert made.deliver(otp_message()) is None  # claimed already: no second call
    assert sender.calls == 3


def test_an_answer_that_may_have_sent_is_never_retried(tmp_path: Path) -> None:
    sender = ScriptedSender([ProviderError("timed out", code="504")])
    made, pauses = deliverer(tmp_path, sender)
    settled = made.deliver(otp_message())
    assert settled is not None and settled.state is SendState.FAILED
    assert (sender.calls, pauses) == (1, [])
    assert (settled.delivery_status, settled.error_code) == ("FAILED", "504")


def test_retries_are_bounded(tmp_path: Path) -> None:
    sender = ScriptedSender([ProviderError("down", retriable=True)] * 5)
    made, _ = deliverer(tmp_path, sender)
    settled = made.deliver(otp_message())
    assert settled is not None and settled.state is SendState.FAILED and sender.calls == 3


def test_the_delivery_event_of_a_send_lines_up_with_provider_callbacks(tmp_path: Path) -> None:
    made, _ = deliverer(tmp_path, ScriptedSender([]))
    message = otp_message()
    settled = made.deliver(message)
    assert settled is not None
    event = delivery_event(message.notification, settled)
    assert event.ids.message_id == ID and event.ids.client_id == "C-1"
    assert event.status is DeliveryStatus.QUEUED and event.provider is Provider.TWILIO
    # the same id the webhook ingest gives Twilio's own report of this status
    assert event.event_id == delivery_event_id(Provider.TWILIO, "SM-42:queued")
    with pytest.raises(ValueError, match="SENDING"):
        delivery_event(
            message.notification, SendRecord(ID, SendState.SENDING, "SMS", "OTP_SMS", NOW)
        )
