"""The tax-season simulator: deterministic, complete, valid against the contract, PII-free."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from datetime import timedelta
from functools import cache
from typing import Any

import pytest

from producers.simulator import SimulatedRecord, SimulationPlan, simulate
from producers.simulator.returns import voucher_due_dates
from producers.simulator.sessions import kba_pass_probability
from schemas.catalogue import (
    CLIENT_EVENT,
    DELIVERY_EVENT,
    FIRM_SETTINGS,
    RETURN_LIFECYCLE_EVENT,
    TOPIC_OF_SCHEMA,
    TRACKING_EVENT,
    TopicNames,
)
from schemas.codec import AvroCodec
from schemas.pii import assert_no_clear_pii
from schemas.schema_set import contract_schemas

# Modest, and chosen so that every event type shows up (rare ones included).
PLAN = SimulationPlan(seed=6, firms=5, clients_per_firm=100, returns=300)
KEY_FIELD = {
    TRACKING_EVENT: "return_id",
    RETURN_LIFECYCLE_EVENT: "return_id",
    CLIENT_EVENT: "client_id",
    DELIVERY_EVENT: "message_id",
    FIRM_SETTINGS: "firm_id",
}
TIME_FIELD = {FIRM_SETTINGS: "updated_at"}


@cache
def season() -> tuple[SimulatedRecord, ...]:
    return tuple(simulate(PLAN))


def symbols(schema_name: str, field: str) -> set[str]:
    """The enum symbols of a record field, read from the contract itself."""
    (spec,) = (
        f for f in contract_schemas().get(schema_name).parsed["fields"] if f["name"] == field
    )
    return set(spec["type"]["symbols"])


def kinds(schema_name: str, field: str = "event_type") -> set[str]:
    return {record[field] for name, _, record in season() if name == schema_name}


def test_same_seed_same_records_and_another_seed_other_records() -> None:
    plan = SimulationPlan(seed=11, firms=2, clients_per_firm=10, returns=20)
    first, again = list(simulate(plan)), list(simulate(plan))
    other = list(simulate(SimulationPlan(seed=12, firms=2, clients_per_firm=10, returns=20)))
    assert first == again
    assert len(first) > 200
    assert first != other
    assert {r["event_id"] for _, _, r in first if "event_id" in r}.isdisjoint(
        r["event_id"] for _, _, r in other if "event_id" in r
    )


def test_every_family_of_the_contract_is_simulated() -> None:
    assert Counter(name for name, _, _ in season()).keys() == KEY_FIELD.keys()
    assert kinds(FIRM_SETTINGS, "firm_id") == {f"S6-F{n:04d}" for n in range(1, 6)}


def test_every_glossary_event_but_the_derived_lock_appears() -> None:
    expected = symbols(TRACKING_EVENT, "event_type") - {"UNKNOWN", "ACCESS_LOCKED"}
    assert kinds(TRACKING_EVENT) == expected


def test_every_dynamic_password_event_appears() -> None:
    assert kinds(CLIENT_EVENT) == symbols(CLIENT_EVENT, "event_type") - {"UNKNOWN"}


def test_every_firm_side_fact_appears() -> None:
    expected = symbols(RETURN_LIFECYCLE_EVENT, "event_type") - {"UNKNOWN"}
    assert kinds(RETURN_LIFECYCLE_EVENT) == expected


def test_providers_report_bounces_deferrals_machine_opens_and_sms_errors() -> None:
    statuses = Counter((r["channel"], r["status"]) for n, _, r in season() if n == DELIVERY_EVENT)
    for status in ("PROCESSED", "DEFERRED", "DELIVERED", "BOUNCE", "DROPPED", "OPEN", "CLICK"):
        assert statuses["EMAIL", status], status
    for status in ("SENT", "DELIVERED", "UNDELIVERED"):
        assert statuses["SMS", status], status
    bounces = [r for n, _, r in season() if n == DELIVERY_EVENT and r["status"] == "BOUNCE"]
    assert {r["bounce_type"] for r in bounces} == {"bounce", "blocked"}
    assert all(r["bounce_classification"] for r in bounces)
    opens = [r for n, _, r in season() if n == DELIVERY_EVENT and r["status"] == "OPEN"]
    assert any(r["machine_open"] for r in opens) and not all(r["machine_open"] for r in opens)
    undelivered = [
        r for n, _, r in season() if n == DELIVERY_EVENT and r["status"] == "UNDELIVERED"
    ]
    assert all(r["error_code"].startswith("300") for r in undelivered)


def test_funnel_rates_are_plausible() -> None:
    initial = Counter(
        r["event_type"]
        for n, _, r in season()
        if n == TRACKING_EVENT and r["event_type"].startswith("INITIAL_EMAIL")
    )
    processed = initial["INITIAL_EMAIL_PROCESSED"]
    assert 0.005 < initial["INITIAL_EMAIL_BOUNCED"] / processed < 0.08
    assert 0.45 < initial["INITIAL_EMAIL_OPENED"] / processed < 0.8


def test_every_record_encodes_against_its_schema_with_every_field() -> None:
    codec, topics = AvroCodec(), TopicNames("sim")
    for schema_name, _, record in season():
        fields = {f["name"] for f in contract_schemas().get(schema_name).parsed["fields"]}
        assert record.keys() == fields, schema_name
        topic = topics.of(TOPIC_OF_SCHEMA[schema_name])
        decoded = codec.decode(codec.encode(schema_name, record, topic=topic))
        assert decoded.schema_name == schema_name


def test_keys_follow_the_catalogue() -> None:
    for schema_name, key, record in season():
        assert key == record[KEY_FIELD[schema_name]], schema_name


def test_no_personal_data_in_clear() -> None:
    for schema_name, _, record in season():
        assert_no_clear_pii(record, schema_name)
    added = [r for n, _, r in season() if n == CLIENT_EVENT and r["event_type"] == "CLIENT_ADDED"]
    assert any(r["email_hash"] and r["email_masked"].endswith("***.com") for r in added)
    assert any(r["phone_masked"] and r["phone_masked"].startswith("***-***-") for r in added)


def test_time_order_overall_and_per_key() -> None:
    last_per_key: dict[tuple[str, str], Any] = {}
    previous = None
    for schema_name, key, record in season():
        occurred = record[TIME_FIELD.get(schema_name, "occurred_at")]
        assert previous is None or occurred >= previous
        assert last_per_key.get((schema_name, key), occurred) <= occurred
        previous = last_per_key[schema_name, key] = occurred
    end = PLAN.start + PLAN.duration
    assert PLAN.start <= season()[0][2]["updated_at"] and previous is not None and previous < end


def test_three_consecutive_failures_are_followed_by_a_firm_unlock_not_a_lock() -> None:
    failures: dict[tuple[str, str], int] = defaultdict(int)
    unlocked = 0
    for schema_name, _, record in season():
        if schema_name != TRACKING_EVENT:
            continue
        subject, kind = (record["return_id"], record["recipient_role"]), record["event_type"]
        if kind == "AUTHENTICATION_FAILED":
            failures[subject] += 1
        elif kind in ("ACCESS_LINK_SELECTED", "TAX_RETURN_ACCESSED"):
            assert failures[subject] < 3, "a locked recipient got in without an unlock"
            failures[subject] = 0
        elif kind == "ACCESS_UNLOCKED":
            assert failures[subject] == 3 and record["firm_user"]
            failures[subject], unlocked = 0, unlocked + 1
    assert unlocked > 0


def test_kba_rounds_stop_at_success_or_three() -> None:
    rounds = [
        (r["return_id"], r["recipient_role"], r["event_type"], r["kba_round"])
        for n, _, r in season()
        if n == TRACKING_EVENT and r["event_type"].startswith("KBA_")
    ]
    assert {kba_round for *_, kba_round in rounds} <= {1, 2, 3}
    assert 0.9 < kba_pass_probability(0.8) < 0.96


def test_vouchers_are_the_next_estimated_tax_due_dates() -> None:
    delivered = int(PLAN.start.timestamp() * 1000)
    dates = voucher_due_dates(delivered, 4)
    assert [(d.month, d.day) for d in dates] == [(4, 15), (6, 15), (9, 15), (1, 15)]
    delivered_returns = [
        r for n, _, r in season() if n == RETURN_LIFECYCLE_EVENT and r["event_type"] == "DELIVERED"
    ]
    assert any(r["voucher_due_dates"] for r in delivered_returns)
    assert any(r["signature_required"] for r in delivered_returns)


def test_a_one_day_window_stops_at_its_end() -> None:
    plan = SimulationPlan(
        seed=3, firms=3, clients_per_firm=20, returns=100, duration=timedelta(days=1)
    )
    records = list(simulate(plan))
    assert records
    assert all(
        r[TIME_FIELD.get(n, "occurred_at")] < plan.start + plan.duration for n, _, r in records
    )


@pytest.mark.parametrize(
    "plan_args", [{"firms": 0}, {"returns": -1}, {"duration": timedelta(0)}, {"seed": -1}]
)
def test_impossible_plans_are_refused(plan_args: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimulationPlan(**plan_args)


def test_generation_streams_quickly() -> None:
    """A throughput smoke: reported, not asserted (timings depend on the machine)."""
    plan = SimulationPlan(seed=1, firms=50, clients_per_firm=40, returns=5000)
    started = time.perf_counter()
    count = sum(1 for _ in itertools.islice(simulate(plan), 200_000))
    elapsed = time.perf_counter() - started
    print(f"simulator: {count} records in {elapsed:.2f}s ({count / elapsed:,.0f} records/s)")  # noqa: T201
    assert count > 50_000
