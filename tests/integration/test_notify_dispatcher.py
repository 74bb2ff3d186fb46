"""The notification dispatcher on the real broker: contacts and notifications in, messages out
once each (local outbox files, provider peers), outcomes on the delivery and dead-letter topics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from pydantic import SecretStr

from ctrack.settings import AuthSettings, KafkaSettings, NotificationSettings, PrivacySettings
from producers.event_producer import EventProducer
from schemas.catalogue import (
    CLIENT_CONTACT,
    CLIENT_CONTACTS,
    DEAD_LETTERS,
    DELIVERY,
    NOTIFICATION_REQUESTED,
    NOTIFICATIONS,
    TopicNames,
)
from schemas.codec import AvroCodec
from schemas.pii import PiiHasher, mask_email, mask_phone
from schemas.tracking import RecipientRole
from services.credentials import (
    Contact,
    ContactSealer,
    LinkTokens,
    OneTimeCodes,
    login_url,
    otp_secret_ref,
)
from services.notifications.bootstrap import DispatcherConfig, open_dispatcher, run_dispatcher
from services.notifications.dispatcher import Dispatcher
from services.notifications.ledger import SendLedger, SendState
from services.notifications.outcomes import DispatchStats
from services.notifications.requests import Notification, to_record
from services.webhooks.records import Channel, MessageKind
from tests.integration.notify_peers import Answer, HttpPeer

MASTER = "integration-test-auth-secret-key-0123456789"
PII_KEY = "integration-test-pii-key-0123456789"
PUBLIC_URL = "https://portal.example.test"
EMAIL, PHONE = "jane.doe@example.com", "+15558675310"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CODEC = AvroCodec()


# -- helpers ------------------------------------------------------------------------------
class FakeMonotonic:
    """The clock of contact waits, moved by the test (no sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config_for(kafka: KafkaSettings, data_dir: Path, **notify: Any) -> DispatcherConfig:
    settings = NotificationSettings(
        outbox_dir=data_dir / "outbox",
        data_dir=data_dir,
        group_id=notify.pop("group_id", "dispatcher"),
        contact_wait_s=notify.pop("contact_wait_s", 30.0),
        retry_backoff_s=0.0,
        **notify,
    )
    return DispatcherConfig(
        kafka=kafka,
        notify=settings,
        auth=AuthSettings(secret_key=SecretStr(MASTER), public_url=PUBLIC_URL),
        privacy=PrivacySettings(pii_hash_key=SecretStr(PII_KEY)),
        codec=CODEC,
    )


@contextmanager
def started(
    config: DispatcherConfig, announced: list[str], monotonic: Callable[[], float] = time.monotonic
) -> Iterator[Dispatcher]:
    """A dispatcher driven step by step by the test; committed and closed at the end."""
    with open_dispatcher(
        config, clock=lambda: NOW, monotonic=monotonic, announce=announced.append
    ) as dispatcher:
        dispatcher.start()
        try:
            yield dispatcher
            dispatcher.step()  # settles and commits what the test left in flight
        finally:
            dispatcher.close()


def step_until(dispatcher: Dispatcher, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"not done in {timeout_s}s: {dispatcher.summary()}"
        dispatcher.step()


def notification(
    kind: MessageKind,
    channel: Channel = Channel.EMAIL,
    client_id: str | None = "C-1",
    **fields: Any,
) -> Notification:
    return Notification(
        notification_id=str(uuid.uuid4()),
        requested_at=NOW,
        channel=channel,
        message_kind=kind,
        firm_id="F-1",
        client_id=client_id,
        **fields,
    )


def publish(kafka: KafkaSettings, *notifications: Notification) -> None:
    with EventProducer(kafka, CODEC) as producer:
        for item in notifications:
            key = item.client_id or item.return_id or ""
            producer.send_record(NOTIFICATION_REQUESTED, key, to_record(item))


def publish_contact(kafka: KafkaSettings, client_id: str, contact: Contact | None) -> None:
    """A sealed contact on client-contacts, or a tombstone (None) that erases it."""
    topic = TopicNames(kafka.topic_prefix).of(CLIENT_CONTACTS)
    with EventProducer(kafka, CODEC) as producer:
        if contact is None:
            produce_raw(kafka, topic, client_id.encode(), None)
            return
        sealed = ContactSealer(MASTER.encode(), "k1").seal("F-1", client_id, contact)
        record = {
            "firm_id": "F-1",
            "client_id": client_id,
            "updated_at": NOW,
            "key_id": "k1",
            "sealed": sealed,
            "email_hash": PiiHasher(PII_KEY.encode()).email(contact.email or "x@y.zz"),
            "phone_masked": mask_phone(contact.phone) if contact.phone else None,
        }
        producer.send_record(CLIENT_CONTACT, client_id, record)


def produce_raw(kafka: KafkaSettings, topic: str, key: bytes, value: bytes | None) -> None:
    """A record as is (junk, tombstones), partitioned like EventProducer's keyed records."""
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "partitioner": "murmur2_random"})
    producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def read_all(kafka: KafkaSettings, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every record of `topic` up to its current end, as (key, raw value)."""
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p))[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
        records: list[tuple[bytes | None, bytes]] = []
        positions = dict.fromkeys(ends, 0)
        deadline = time.monotonic() + 30
        while any(positions[p] < end for p, end in ends.items()):
            assert time.monotonic() < deadline
            for message in consumer.consume(500, timeout=0.5):
                if message.error() is None:
                    records.append((message.key(), message.value() or b""))
                    positions[message.partition() or 0] = (message.offset() or 0) + 1
        return records
    finally:
        consumer.close()


def decoded(kafka: KafkaSettings, spec: Any) -> list[dict[str, Any]]:
    topic = TopicNames(kafka.topic_prefix).of(spec)
    return [CODEC.decode(value).record for _, value in read_all(kafka, topic)]


def outbox(config: DispatcherConfig) -> dict[str, dict[str, Any]]:
    files = sorted(config.notify.outbox_dir.glob("*.json"))
    return {path.stem: json.loads(path.read_text()) for path in files}


def assert_no_clear_contact_on(kafka: KafkaSettings, *specs: Any) -> None:
    for spec in specs:
        for key, value in read_all(kafka, TopicNames(kafka.topic_prefix).of(spec)):
            raw = (key or b"") + value
            for secret in (EMAIL, PHONE, PHONE[2:], "jane.doe"):
                assert secret.encode() not in raw, f"{secret} in clear on {spec.name}"


# -- tests --------------------------------------------------------------------------------
def test_sends_each_notification_once_with_the_right_link_code_and_address(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = config_for(kafka, tmp_path)
    publish_contact(kafka, "C-1", Contact(email=EMAIL, phone=PHONE))
    invite = notification(
        MessageKind.DYNAMIC_PASSWORD_INVITE, link_id="L-1", recipient_role=RecipientRole.TAXPAYER
    )
    code = notification(MessageKind.OTP_SMS, Channel.SMS, secret_ref=otp_secret_ref(4))
    message = notification(MessageKind.FIRM_MESSAGE)
    publish(kafka, invite, code, message)
    announced: list[str] = []
    with started(config, announced) as dispatcher:
        step_until(dispatcher, lambda: dispatcher.stats.sent == 3)
    sent = outbox(config)
    assert set(sent) == {invite.notification_id, code.notification_id, message.notification_id}

    link = login_url(PUBLIC_URL, LinkTokens(MASTER.encode()).issue("L-1"))
    invite_file = sent[invite.notification_id]
    assert (invite_file["to"], invite_file["link"], invite_file["code"]) == (EMAIL, link, None)
    assert link in invite_file["body"] and invite_file["channel"] == "EMAIL"
    expected_code = OneTimeCodes(MASTER.encode()).code("F-1", "C-1", 4)
    code_file = sent[code.notification_id]
    assert (code_file["to"], code_file["code"], code_file["subject"]) == (
        PHONE,
        expected_code,
        None,
    )
    assert expected_code in code_file["body"] and "5 minutes" in code_file["body"]
    assert sent[message.notification_id]["message_kind"] == "FIRM_MESSAGE"

    # the console shows link and code for the demo, never the clear address
    assert any(link in line and mask_email(EMAIL) in line for line in announced)
    assert any(expected_code in line and mask_phone(PHONE) in line for line in announced)
    assert not any(EMAIL in line or PHONE in line for line in announced)

    deliveries = {record["message_id"]: record for record in decoded(kafka, DELIVERY)}
    assert set(deliveries) == set(sent)
    hasher = PiiHasher(PII_KEY.encode())
    invite_delivery = deliveries[invite.notification_id]
    assert (invite_delivery["status"], invite_delivery["provider"]) == ("PROCESSED", "LOCAL")
    assert invite_delivery["client_id"] == "C-1" and invite_delivery["recipient_role"] == "TAXPAYER"
    assert invite_delivery["recipient_hash"] == hasher.email(EMAIL)
    assert deliveries[code.notification_id]["status"] == "SENT"
    assert deliveries[code.notification_id]["recipient_hash"] == hasher.phone(PHONE)
    assert decoded(kafka, DEAD_LETTERS) == []
    assert_no_clear_contact_on(kafka, DELIVERY, DEAD_LETTERS)


def test_replays_and_a_restart_with_reset_offsets_send_nothing_twice(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = config_for(kafka, tmp_path)
    publish_contact(kafka, "C-1", Contact(email=EMAIL, phone=PHONE))
    invite = notification(MessageKind.DYNAMIC_PASSWORD_INVITE, link_id="L-1")
    code = notification(MessageKind.OTP_SMS, Channel.SMS, secret_ref=otp_secret_ref(1))
    publish(kafka, invite, code)
    with started(config, []) as first:
        step_until(first, lambda: first.stats.sent == 2)
        written = {
            path.name: path.stat().st_mtime_ns for path in config.notify.outbox_dir.iterdir()
        }
        publish(kafka, code)  # the same notification asked for again (a retried dispatch)
        step_until(first, lambda: first.stats.skipped_duplicate == 1)
        assert first.stats.sent == 2

    # a new consumer group reads the topic from its start: every record is a replay
    again = config_for(kafka, tmp_path, group_id="dispatcher-reset")
    with started(again, []) as second:
        step_until(second, lambda: second.stats.skipped_duplicate == 3)
        assert (second.stats.sent, second.stats.republished) == (0, 0)

    assert {
        path.name: path.stat().st_mtime_ns for path in config.notify.outbox_dir.iterdir()
    } == written
    deliveries = decoded(kafka, DELIVERY)
    assert sorted(record["message_id"] for record in deliveries) == sorted(
        [invite.notification_id, code.notification_id]
    )


def test_a_notification_waits_for_its_contact_then_is_sent(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = config_for(kafka, tmp_path, contact_wait_s=300.0)
    link = notification(MessageKind.LOGIN_LINK, client_id="C-late", link_id="L-7")
    publish(kafka, link)
    with started(config, []) as dispatcher:
        step_until(dispatcher, lambda: dispatcher.waiting == 1)
        publish_contact(kafka, "C-late", Contact(email=EMAIL))
        step_until(dispatcher, lambda: dispatcher.stats.sent == 1)
    assert outbox(config)[link.notification_id]["to"] == EMAIL


def test_missing_contacts_go_to_the_dead_letter_topic_after_the_bounded_wait(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = config_for(kafka, tmp_path, contact_wait_s=30.0)
    clock = FakeMonotonic()
    publish_contact(kafka, "C-erased", Contact(email=EMAIL, phone=PHONE))
    publish_contact(kafka, "C-erased", None)  # tombstone: erased
    publish_contact(kafka, "C-email-only", Contact(email=EMAIL))
    never = notification(MessageKind.DYNAMIC_PASSWORD_INVITE, client_id="C-never", link_id="L-1")
    erased = notification(MessageKind.FIRM_MESSAGE, client_id="C-erased")
    no_phone = notification(
        MessageKind.OTP_SMS, Channel.SMS, client_id="C-email-only", secret_ref=otp_secret_ref(2)
    )
    reminder = notification(
        MessageKind.SIGNING_REMINDER, client_id=None, return_id="R-1", caused_by=str(uuid.uuid4())
    )
    publish(kafka, never, erased, no_phone, reminder)
    with started(config, [], monotonic=clock) as dispatcher:
        # a return's recipients have no contact to wait for: dead-lettered at once
        step_until(
            dispatcher, lambda: dispatcher.waiting == 3 and dispatcher.stats.dead_lettered == 1
        )
        clock.now += 29.0
        dispatcher.step()
        assert dispatcher.waiting == 3
        clock.now += 1.0
        step_until(dispatcher, lambda: dispatcher.stats.dead_lettered == 4)
        assert dispatcher.waiting == 0 and dispatcher.stats.sent == 0
    letters = {
        CODEC.decode(r["payload"]).record["notification_id"]: r
        for r in decoded(kafka, DEAD_LETTERS)
    }
    reasons = {str(key): letter["reason"] for key, letter in letters.items()}
    assert "no contact for the client" in reasons[never.notification_id]
    assert "no contact for the client" in reasons[erased.notification_id]
    assert "no mobile number" in reasons[no_phone.notification_id]
    assert "no client_id" in reasons[reminder.notification_id]
    assert {letter["error_type"] for letter in letters.values()} == {"ContactUnavailable"}
    assert {letter["stage"] for letter in letters.values()} == {"services.notifications"}
    assert outbox(config) == {}
    assert_no_clear_contact_on(kafka, DELIVERY, DEAD_LETTERS)
    # settled: a restarted dispatcher in the same group finds nothing left to read
    with started(config, [], monotonic=clock) as restarted:
        restarted.step()
        assert restarted.stats == type(restarted.stats)()


def test_poison_records_are_dead_lettered_redacted_and_committed_past(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = config_for(kafka, tmp_path)
    topic = TopicNames(kafka.topic_prefix).of(NOTIFICATIONS)
    produce_raw(kafka, topic, b"C-1", f"junk for {EMAIL} {PHONE}".encode())
    with EventProducer(kafka, CODEC) as producer:
        # well-formed Avro, but not a notification
        contact = {
            "firm_id": "F-1",
            "client_id": "C-1",
            "updated_at": NOW,
            "key_id": "k1",
            "sealed": b"x",
        }
        producer.send(topic, "C-1", CLIENT_CONTACT, contact)
        # a notification that cannot be sent as asked: an invite without its link
        producer.send_record(
            NOTIFICATION_REQUESTED, "C-1", to_record(notification(MessageKind.LOGIN_LINK))
        )
    contacts_topic = TopicNames(kafka.topic_prefix).of(CLIENT_CONTACTS)
    produce_raw(kafka, contacts_topic, b"C-9", b"not a sealed contact")
    with started(config, []) as dispatcher:
        step_until(dispatcher, lambda: dispatcher.stats.dead_lettered == 4)
    letters = decoded(kafka, DEAD_LETTERS)
    assert sorted((letter["stage"], letter["error_type"]) for letter in letters) == [
        ("services.notifications", "InvalidNotification"),
        ("services.notifications", "UnexpectedNotificationRecord"),
        ("services.notifications", "UnknownEncodingError"),
        ("services.notifications.contacts", "UnknownEncodingError"),
    ]
    assert {letter["source_topic"] for letter in letters} == {topic, contacts_topic}
    junk = next(letter for letter in letters if letter["payload"].startswith(b"junk"))
    assert junk["payload"].startswith(b"junk for [redacted email address]")
    assert_no_clear_contact_on(kafka, DEAD_LETTERS)
    committed = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": f"{kafka.topic_prefix}-dispatcher"}
    ).committed([TopicPartition(topic, p) for p in range(6)], timeout=10)
    assert sum(max(tp.offset, 0) for tp in committed) == 3


def test_a_send_left_in_doubt_by_a_crash_is_reported_not_resent(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = config_for(kafka, tmp_path)
    publish_contact(kafka, "C-1", Contact(email=EMAIL, phone=PHONE))
    code = notification(MessageKind.OTP_SMS, Channel.SMS, secret_ref=otp_secret_ref(9))
    # what a dispatcher that died during the provider call leaves behind
    crashed = SendLedger(config.notify.ledger_path)
    crashed.claim(code.notification_id, "SMS", "OTP_SMS", NOW)
    crashed.close()
    publish(kafka, code)
    with started(config, []) as dispatcher:
        step_until(dispatcher, lambda: dispatcher.stats.in_doubt == 1)
        assert dispatcher.stats.sent == 0
    assert outbox(config) == {}
    [letter] = decoded(kafka, DEAD_LETTERS)
    assert letter["error_type"] == "SendInDoubt" and "not sent again" in letter["reason"]
    ledger = SendLedger(config.notify.ledger_path)
    record = ledger.get(code.notification_id)
    assert record is not None and record.state is SendState.IN_DOUBT and record.reported
    ledger.close()


def test_sendgrid_and_twilio_through_the_dispatcher(kafka: KafkaSettings, tmp_path: Path) -> None:
    sid = "SM" + "ab" * 16
    twilio_answer = Answer(
        201,
        {"Content-Type": "application/json"},
        json.dumps({"sid": sid, "status": "queued"}).encode(),
    )
    with (
        HttpPeer(Answer(202, {"X-Message-Id": "sg-1"})) as sendgrid_api,
        HttpPeer(twilio_answer) as twilio_api,
    ):
        sendgrid_api.answers.append(Answer(400, body=b'{"errors":[{"message":"invalid from"}]}'))
        config = config_for(
            kafka,
            tmp_path,
            email_provider="sendgrid",
            sendgrid_api_key=SecretStr("SG.key"),
            sendgrid_api_url=sendgrid_api.url,
            sms_provider="twilio",
            twilio_account_sid="AC9",
            twilio_auth_token=SecretStr("token"),
            twilio_from="+15550001111",
            twilio_api_url=twilio_api.url,
            status_callback_url="https://hooks.example.test",
        )
        publish_contact(kafka, "C-1", Contact(email=EMAIL, phone=PHONE))
        refused = notification(MessageKind.DYNAMIC_PASSWORD_INVITE, link_id="L-1")
        code = notification(MessageKind.OTP_SMS, Channel.SMS, secret_ref=otp_secret_ref(3))
        publish(kafka, refused, code, refused)  # the refused one asked twice
        with started(config, []) as dispatcher:
            step_until(dispatcher, lambda: dispatcher.stats.skipped_duplicate == 1)
            assert (dispatcher.stats.sent, dispatcher.stats.failed) == (1, 1)
        assert len(sendgrid_api.requests) == 1 and len(twilio_api.requests) == 1
    deliveries = {record["message_id"]: record for record in decoded(kafka, DELIVERY)}
    assert deliveries[code.notification_id]["provider_event_id"] == f"{sid}:queued"
    assert deliveries[code.notification_id]["status"] == "QUEUED"
    dropped = deliveries[refused.notification_id]
    assert (dropped["status"], dropped["provider"], dropped["error_code"]) == (
        "DROPPED",
        "SENDGRID",
        "400",
    )
    assert "invalid from" in dropped["reason"]
    [letter] = decoded(kafka, DEAD_LETTERS)
    assert letter["error_type"] == "ProviderError"
    assert_no_clear_contact_on(kafka, DELIVERY, DEAD_LETTERS)


def test_ctrack_notify_run_sends_logs_without_addresses_and_stops_on_sigterm(
    kafka: KafkaSettings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    outbox_dir = tmp_path / "outbox"
    env = worker_env | {
        "CTRACK_NOTIFY_OUTBOX_DIR": str(outbox_dir),
        "CTRACK_AUTH_SECRET_KEY": MASTER,
        "CTRACK_AUTH_PUBLIC_URL": PUBLIC_URL,
        "CTRACK_PII_HASH_KEY": PII_KEY,
    }
    publish_contact(kafka, "C-1", Contact(email=EMAIL, phone=PHONE))
    invite = notification(MessageKind.DYNAMIC_PASSWORD_INVITE, link_id="L-5")
    code = notification(MessageKind.OTP_SMS, Channel.SMS, secret_ref=otp_secret_ref(5))
    publish(kafka, invite, code)
    process = subprocess.Popen(
        [sys.executable, "-m", "ctrack.cli.main", "notify", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        wanted = {f"{invite.notification_id}.json", f"{code.notification_id}.json"}
        while not wanted <= {path.name for path in outbox_dir.glob("*.json")}:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)  # polling a directory another process writes, with a deadline
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    link = login_url(PUBLIC_URL, LinkTokens(MASTER.encode()).issue("L-5"))
    expected_code = OneTimeCodes(MASTER.encode()).code("F-1", "C-1", 5)
    assert link.encode() in stdout and expected_code.encode() in stdout
    assert b"dispatcher stopped: 2 sent, 0 skipped as duplicates" in stderr
    assert b'"event": "sent"' in stderr and b"dispatch_summary" in stderr
    for secret in (EMAIL, PHONE, PHONE[2:]):
        assert secret.encode() not in stdout + stderr


def test_run_dispatcher_in_a_thread_until_told_to_stop(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = config_for(kafka, tmp_path)
    publish_contact(kafka, "C-1", Contact(email=EMAIL))
    unlock = notification(MessageKind.UNLOCK_NOTICE)
    publish(kafka, unlock)
    stop, announced, result = threading.Event(), list[str](), list[DispatchStats]()
    thread = threading.Thread(
        target=lambda: result.append(run_dispatcher(stop.is_set, config, announce=announced.append))
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not announced:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.05)  # the dispatcher's own thread reports through `announce`
    finally:
        stop.set()
        thread.join(timeout=60)
    [stats] = result
    assert (stats.sent, stats.dead_lettered) == (1, 0)
    assert outbox(config)[unlock.notification_id]["subject"] == "Your access has been unlocked"
