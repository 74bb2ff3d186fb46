"""Benchmark: the dynamic password service's link-open and code-verify paths at a target rate.

Run: .venv/bin/python bench/auth.py [--rate 500] [--seconds 8] [--connections 64] [--port 19592]
Starts a private local broker (`--port`, controller 10,000 above; temporary data dir) and the
service (`--port` + 2) in a separate
process (one uvicorn process, as `ctrack auth serve` runs it), imports and invites clients,
then drives it open-loop from this process (uvloop, so the driver takes less of the machine)
over keep-alive connections at `--rate` requests/s:
  (a) baseline: a trivial endpoint added to the same app (same HTTP stack, no work);
  (b) link-open: POST /client/links/{token} (LINK_SELECTED + OTP_SENT + SMS request committed);
  (c) code-verify: POST /client/links/{token}/code with the right code (OTP_VERIFIED, session).
Latency is measured from each request's scheduled send time (so queueing counts), and for (b)
also until the SMS request is on the notifications topic (the outbox relay's produce time).
The service's CPU time per request, and how long it waited for a CPU (machine load), are read
from /proc. BENCH_AUTH_SERVER=<script> starts the service through another script taking the
same arguments (e.g. one that runs it under cProfile).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from ctrack.settings import KafkaSettings, StackSettings
from ctrack.stack.local_kafka import LocalKafka
from ctrack.topic_admin import ensure_topics
from schemas.catalogue import NOTIFICATIONS, TopicNames
from schemas.codec import AvroCodec
from services.credentials import LinkTokens, OneTimeCodes, otp_counter

PORT = 19592  # the broker; its controller is 10,000 above, the service 2 above
CONTROLLER_PORT_OFFSET, SERVICE_PORT_OFFSET = 10_000, 2
MASTER = "benchmark-auth-master-secret-0123456789abcdef"
FIRM, KEY = "F-bench", "bench-key-0123456789abcdef"
BASELINE, OPEN, VERIFY, SENT = (
    "(a) baseline: trivial endpoint",
    "(b) link-open (HTTP answer)",
    "(c) code-verify",
    "(b') link-open -> SMS request on Kafka",
)


# -- the service process -------------------------------------------------------------------
def serve(bootstrap: str, prefix: str, data_dir: str, port: int) -> None:
    """The service, as `ctrack auth serve` builds it, plus a trivial endpoint for the baseline."""
    import uvicorn
    from pydantic import SecretStr

    from ctrack.settings import AuthSettings, QueryApiSettings
    from services.dynamic_password.bootstrap import build_app

    app = build_app(
        auth=AuthSettings(secret_key=SecretStr(MASTER), data_dir=Path(data_dir)),
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix),
        api=QueryApiSettings(keys=SecretStr(f"{FIRM}:{KEY}")),
    )

    @app.get("/bench/noop")
    async def noop() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- a small keep-alive HTTP/1.1 client (cheap enough not to be the bottleneck) --------------
class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    port = PORT + SERVICE_PORT_OFFSET  # the service's (set by main)

    @classmethod
    async def open(cls) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", cls.port))

    async def request(
        self, method: str, path: str, body: bytes = b"", auth: str | None = None
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
        head += "Content-Type: application/json\r\n"
        if auth:
            head += f"Authorization: Bearer {auth}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)


@dataclass
class Run:
    """Latencies (ms, from the scheduled send time) and outcomes of one open-loop run."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    server_waited_s: float = 0.0  # the event loop runnable, not running: the CPUs were busy
    sent_at: dict[int, float] = field(default_factory=dict)


async def open_loop(
    requests: list[tuple[str, str, bytes]], rate: float, connections: int, ok: int
) -> Run:
    """Send `requests` at `rate`/s (intended times fixed in advance) over a connection pool."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open())
    run, tasks = Run(), []
    start = time.perf_counter() + 0.05
    wall_start = time.time() + 0.05

    async def one(index: int, method: str, path: str, body: bytes) -> None:
        intended = start + index / rate
        connection = await pool.get()
        try:
            status, _ = await connection.request(method, path, body)
        finally:
            pool.put_nowait(connection)
        run.latencies_ms.append((time.perf_counter() - intended) * 1000)
        run.errors += status != ok

    for index, (method, path, body) in enumerate(requests):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        run.sent_at[index] = wall_start + index / rate
        tasks.append(asyncio.create_task(one(index, method, path, body)))
    await asyncio.gather(*tasks)
    run.seconds = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().writer.close()
    return run


# -- set-up and measurement ----------------------------------------------------------------
def notifications(kafka: KafkaSettings, kind: str, count: int) -> dict[str, tuple[str, str, int]]:
    """client_id -> (link_id, secret_ref, produce time in ms) of the first `count` of a kind."""
    topic = TopicNames(kafka.topic_prefix).of(NOTIFICATIONS)
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"b-{uuid.uuid4()}"})
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(NOTIFICATIONS.partitions)]
    )
    codec, found = AvroCodec(), {}
    deadline = time.monotonic() + 120
    while len(found) < count and time.monotonic() < deadline:
        for message in consumer.consume(1000, timeout=0.5):
            record = codec.decode(message.value()).record
            if record["message_kind"] == kind:
                found[record["client_id"]] = (
                    record["link_id"],
                    record["secret_ref"],
                    message.timestamp()[1],
                )
    consumer.close()
    return found


async def set_up(clients: int) -> list[str]:
    """Import and invite `clients` clients through the firm API; returns their ids."""
    connection = await Connection.open()
    rows = "\n".join(f"c{n}@example.com,555-010-{n % 10_000:04d}" for n in range(clients))
    status, body = await connection.request(
        "POST", "/v1/clients/import", f"email,phone\n{rows}".encode(), KEY
    )
    if status != 200:
        raise SystemExit(f"import failed: {status} {body!r}")
    ids = [row["client_id"] for row in json.loads(body)["imported"]]
    for start in range(0, len(ids), 500):
        batch = json.dumps({"client_ids": ids[start : start + 500]}).encode()
        status, body = await connection.request("POST", "/v1/invites", batch, KEY)
        if status != 200:
            raise SystemExit(f"invites failed: {status} {body!r}")
    connection.writer.close()
    return ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_seconds(pid: int) -> float:
    """Time the process's main thread (the event loop's) spent runnable but waiting for a CPU
    (Linux schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def timed(pid: int, requests: list[tuple[str, str, bytes]], rate: float, connections: int) -> Run:
    """An open-loop run, with the CPU time the service process spent during it and the time
    it waited for a CPU (the machine's load, which latency then includes)."""
    before, waited = cpu_seconds(pid), run_queue_seconds(pid)
    run = uvloop.run(open_loop(requests, rate, connections, 200))
    run.server_cpu_s = cpu_seconds(pid) - before
    run.server_waited_s = run_queue_seconds(pid) - waited
    return run


def measure(
    kafka: KafkaSettings, pid: int, rate: float, seconds: float, connections: int
) -> dict[str, Run]:
    n = int(rate * seconds)
    tokens, codes = LinkTokens(MASTER.encode()), OneTimeCodes(MASTER.encode())
    ids = asyncio.run(set_up(n))
    invites = notifications(kafka, "DYNAMIC_PASSWORD_INVITE", n)
    links = [tokens.issue(invites[client_id][0]) for client_id in ids]
    runs = {BASELINE: timed(pid, [("GET", "/bench/noop", b"")] * n, rate, connections)}
    opens = [("POST", f"/client/links/{token}", b"") for token in links]
    runs[OPEN] = timed(pid, opens, rate, connections)
    sms = notifications(kafka, "OTP_SMS", n)
    counters = [otp_counter(sms[client_id][1]) or 0 for client_id in ids]
    verifies = [
        (
            "POST",
            f"/client/links/{token}/code",
            json.dumps({"code": codes.code(FIRM, cid, counter)}).encode(),
        )
        for token, cid, counter in zip(links, ids, counters, strict=True)
    ]
    runs[VERIFY] = timed(pid, verifies, rate, connections)
    on_kafka = Run(seconds=runs[OPEN].seconds)
    on_kafka.latencies_ms = [
        sms[client_id][2] - runs[OPEN].sent_at[index] * 1000 for index, client_id in enumerate(ids)
    ]
    runs[SENT] = on_kafka
    return runs


def report(console: Console, runs: dict[str, Run], rate: float, connections: int) -> None:
    n = len(runs[BASELINE].latencies_ms)
    table = Table(
        title=f"Dynamic password service, one process: {n:,} requests per path at {rate:,.0f}/s"
    )
    columns = ("path", "requests/s", "p50 ms", "p99 ms", "max ms", "errors", "p99 vs (a)")
    for column in (*columns, "service CPU ms/req", "req/s per CPU", "loop waited for CPU s"):
        table.add_column(column, justify="left" if column == "path" else "right")
    base_p99 = percentile(runs[BASELINE].latencies_ms, 0.99)
    for name, run in runs.items():
        p99 = percentile(run.latencies_ms, 0.99)
        table.add_row(
            name,
            f"{len(run.latencies_ms) / run.seconds:,.0f}" if name != SENT else "-",
            f"{statistics.median(run.latencies_ms):.1f}",
            f"{p99:.1f}",
            f"{max(run.latencies_ms):.1f}",
            str(run.errors),
            f"{p99 / base_p99:.1f}x",
            *_cpu(run),
        )
    console.print(table)
    worst = max(percentile(runs[k].latencies_ms, 0.99) for k in (OPEN, VERIFY))
    console.print(
        f"{connections} keep-alive connections; latency from each request's scheduled time. "
        f"Goal p99 < 100 ms at {rate:,.0f} requests/s (link-open, code-verify): "
        f"{'met' if worst < 100 else 'NOT met'} (worst p99 {worst:.1f} ms)."
    )


def _cpu(run: Run) -> tuple[str, str, str]:
    """Service CPU per request (includes the relay and ingest work the requests caused), and
    how long the service was runnable but waiting for a CPU during the run."""
    if not run.server_cpu_s:
        return "-", "-", "-"
    per_request_ms = run.server_cpu_s * 1000 / len(run.latencies_ms)
    return f"{per_request_ms:.2f}", f"{1000 / per_request_ms:,.0f}", f"{run.server_waited_s:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500.0, help="target requests/s")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--port", type=int, default=PORT, help="the private broker's port")
    parser.add_argument(
        "--serve", nargs=3, metavar=("BOOTSTRAP", "PREFIX", "DATA_DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    Connection.port = args.port + SERVICE_PORT_OFFSET
    if args.serve:
        bootstrap, prefix, data_dir = args.serve
        serve(bootstrap, prefix, data_dir, Connection.port)
        return
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalKafka(
            StackSettings(
                data_dir=Path(tmp) / "kafka",
                kafka_port=args.port,
                kafka_controller_port=args.port + CONTROLLER_PORT_OFFSET,
                kafka_jars_dir=StackSettings().jars_dir,
            )
        )
        broker.up()
        kafka = KafkaSettings(
            bootstrap_servers=broker.bootstrap, topic_prefix=f"b{uuid.uuid4().hex[:8]}"
        )
        ensure_topics(kafka.bootstrap, TopicNames(kafka.topic_prefix))
        server = subprocess.Popen(  # noqa: S603 - this script, with our own arguments
            [
                sys.executable,
                os.environ.get("BENCH_AUTH_SERVER", __file__),
                "--serve",
                kafka.bootstrap,
                kafka.topic_prefix,
                f"{tmp}/auth",
                f"--port={args.port}",
            ],
            env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        try:
            wait_for_service()
            runs = measure(kafka, server.pid, args.rate, args.seconds, args.connections)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
            broker.down()
    report(Console(width=140), runs, args.rate, args.connections)


def wait_for_service() -> None:
    async def probe() -> bool:
        try:
            connection = await Connection.open()
        except OSError:
            return False
        status, _ = await connection.request("GET", "/health")
        connection.writer.close()
        return status == 200

    deadline = time.monotonic() + 60
    while not asyncio.run(probe()):
        if time.monotonic() > deadline:
            raise SystemExit("the service did not start")
        time.sleep(0.2)


if __name__ == "__main__":
    main()
