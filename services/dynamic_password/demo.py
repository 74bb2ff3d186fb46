"""`ctrack auth demo`: the Dynamic Password article's flow on the embedded stack, end to end.

The local broker (or KAFKA_BOOTSTRAP_SERVERS), the stream worker, this service on
CTRACK_AUTH_HOST:CTRACK_AUTH_PORT and the notification dispatcher with its local provider all
start here. Then a firm user adds a client and invites it; the demo opens the link the local
provider printed, enters the SMS code it printed, and shows the client Connected, both in the
service's firm view and on the worker's client-status stream (what `ctrack status` reads).
"""

from __future__ import annotations

import queue
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from confluent_kafka import KafkaException
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from ctrack.demo import start_worker
from ctrack.settings import AuthSettings, KafkaSettings, QueryApiSettings, StackSettings
from ctrack.topic_admin import ensure_topics, wait_for_topics
from schemas.catalogue import ALL_TOPICS, CLIENT_STATUS_TOPIC, TopicNames
from schemas.codec import AvroCodec
from services.dynamic_password.bootstrap import build_app
from services.notifications.bootstrap import DispatcherConfig, process_codec, run_dispatcher
from services.status.latest import latest_for_key

DEMO_FIRM = "F-demo"
WAIT_S = 180.0  # for each printed message and for the worker's status
_LINK = re.compile(r"\blink (\S+)")
_CODE = re.compile(r"\bcode (\d+)")


class DemoFailed(Exception):
    """A step of the demo did not happen in time (the message says which)."""


@dataclass
class Printed:
    """The local provider's console lines, shown as they come and kept for the story."""

    out: Console
    lines: queue.Queue[str]

    def announce(self, line: str) -> None:  # called on the dispatcher's thread
        self.out.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)
        self.lines.put(line)

    def wait_for(self, kind: str, client_id: str, pattern: re.Pattern[str]) -> str:
        """The first group of `pattern` in the next `kind` message to `client_id`."""
        deadline = time.monotonic() + WAIT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if f" {kind} " in line and f"({client_id})" in line and (found := pattern.search(line)):
                return found.group(1)
        raise DemoFailed(f"the local provider printed no {kind} for {client_id} in {WAIT_S:.0f}s")


def run_auth_demo(out: Console, console: Console, keep_broker: bool = True) -> int:
    """The whole flow; returns the exit code (0: the client ended Connected on the stream)."""
    from ctrack.stack.local_kafka import LocalKafka, StackError

    kafka, stack, auth = KafkaSettings(), StackSettings(), AuthSettings()
    local = None if kafka.uses_external_cluster else LocalKafka(stack)
    try:
        if local is not None:
            local.up(on_progress=lambda msg: console.print(f"• {msg}"))
        names = TopicNames(kafka.topic_prefix)
        ensure_topics(kafka.bootstrap, names, kafka.replication_factor)
        wait_for_topics(kafka.bootstrap, [names.of(spec) for spec in ALL_TOPICS])
        printed = Printed(out, queue.Queue())
        firm_key = secrets.token_urlsafe(24)
        with (
            _worker(stack, console),
            _service(auth, kafka, firm_key, console),
            _dispatcher(kafka, printed, console),
        ):
            _story(out, console, kafka, auth, firm_key, printed)
        return 0
    except (StackError, DemoFailed, httpx.HTTPError, KafkaException, TimeoutError) as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        return 1
    finally:
        if local is not None and not keep_broker:
            local.down()


def _story(
    out: Console,
    console: Console,
    kafka: KafkaSettings,
    auth: AuthSettings,
    firm_key: str,
    printed: Printed,
) -> None:
    base = f"http://{auth.host}:{auth.port}"
    headers = {"Authorization": f"Bearer {firm_key}", "X-Firm-User": "demo.preparer"}
    run = secrets.token_hex(3)
    contact = {
        "email": f"pat.demo.{run}@example.com",
        "phone": f"+1555010{secrets.randbelow(10_000):04d}",
    }
    with httpx.Client(base_url=base, timeout=30) as http:
        added = _ok(http.post("/v1/clients", json=contact, headers=headers))
        client_id = added["client_id"]
        out.print(f"1. {DEMO_FIRM} adds client {client_id}: status {added['status']}")
        invited = _ok(http.post(f"/v1/clients/{client_id}/invite", headers=headers))
        out.print(f"2. {DEMO_FIRM} sends the dynamic password invite: status {invited['status']}")
        link = printed.wait_for("DYNAMIC_PASSWORD_INVITE", client_id, _LINK)
        opened = _ok(http.post(link))
        out.print(f"3. the client opens the printed link: a code goes to {opened['sent_to']}")
        code = printed.wait_for("OTP_SMS", client_id, _CODE)
        verified = _ok(http.post(f"{link}/code", json={"code": code}))
        out.print(f"4. the client enters the printed code {code}: status {verified['status']}")
        view = _ok(http.get(f"/v1/clients/{client_id}", headers=headers))
    out.print(_table(f"Firm view of {client_id} (GET /v1/clients/{{id}})", view))
    with console.status("waiting for the stream worker's client-status record"):
        status = _connected_on_stream(kafka, client_id, process_codec())
    out.print(_table(f"client-status stream (ctrack status {client_id})", status))


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise DemoFailed(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text}"
        )
    return response.json()


def _connected_on_stream(kafka: KafkaSettings, client_id: str, codec: AvroCodec) -> Any:
    topic = TopicNames(kafka.topic_prefix).of(CLIENT_STATUS_TOPIC)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        record = latest_for_key(kafka.bootstrap, topic, client_id, codec, timeout_s=5)
        if record is not None and record["status"] == "CONNECTED":
            return record
        time.sleep(0.5)
    raise DemoFailed(f"the worker published no CONNECTED status for {client_id} in {WAIT_S:.0f}s")


def _table(title: str, fields: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    shown = ("status", "identity_verified", "verification_method", "email_masked",
             "phone_masked", "has_password", "login_locked_until", "updated_at")  # fmt: skip
    for name in shown:
        if name in fields:
            table.add_row(name, str(fields[name]))
    return table


# -- the parts, each stopped when the story ends --------------------------------------------
@contextmanager
def _worker(stack: StackSettings, console: Console) -> Iterator[None]:
    log_name = "auth-demo-worker.log"
    worker = start_worker(stack, log_name)
    console.print(f"• stream worker started (log: {stack.data_dir / 'logs' / log_name})")
    try:
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


@contextmanager
def _service(
    auth: AuthSettings, kafka: KafkaSettings, key: str, console: Console
) -> Iterator[None]:
    api = QueryApiSettings(keys=SecretStr(f"{DEMO_FIRM}:{key}"))
    app = build_app(auth=auth, kafka=kafka, api=api)
    config = uvicorn.Config(app, host=auth.host, port=auth.port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="auth-service", daemon=True)
    thread.start()
    _until(lambda: server.started or not thread.is_alive(), "the service to start")
    if not server.started:
        raise DemoFailed(f"the service did not start on {auth.host}:{auth.port} (port in use?)")
    console.print(f"• dynamic password service on http://{auth.host}:{auth.port} (docs at /docs)")
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def _dispatcher(kafka: KafkaSettings, printed: Printed, console: Console) -> Iterator[None]:
    stop = threading.Event()
    config = DispatcherConfig(kafka=kafka)

    def dispatch() -> None:
        try:
            run_dispatcher(stop.is_set, config, announce=printed.announce)
        except Exception as exc:  # shown here; the story then times out waiting for it
            console.print(f"[red]the dispatcher stopped:[/red] {exc!r}", soft_wrap=True)

    thread = threading.Thread(target=dispatch, name="dispatcher", daemon=True)
    thread.start()
    console.print(f"• dispatcher with the local provider (files in {config.notify.outbox_dir})")
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def _until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out waiting for {what}")
        time.sleep(0.05)
