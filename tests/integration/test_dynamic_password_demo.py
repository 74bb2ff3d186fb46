"""`ctrack auth demo` against the test broker: the link and the code the local provider printed
are the ones the client used, and the client ends Connected on the status stream."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

from ctrack.settings import DEVELOPMENT_AUTH_KEY, KafkaSettings
from schemas.catalogue import CLIENT_EVENTS, CLIENT_STATUS_TOPIC, NOTIFICATIONS
from services.credentials import LinkTokens, OneTimeCodes, otp_counter
from services.dynamic_password.demo import DEMO_FIRM
from tests.integration.dynamic_password_helpers import of_client, topic_rows

INVITE_LINE = re.compile(
    r"\[outbox\] EMAIL DYNAMIC_PASSWORD_INVITE to \S+ \((C-[0-9a-f]+)\): "
    r"link (\S+)/client/links/(\S+)"
)
CODE_LINE = re.compile(
    r"\[outbox\] SMS OTP_SMS to \*\*\*-\*\*\*-\d{4} \((C-[0-9a-f]+)\): link (\S+), code (\d{6})"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_auth_demo_uses_the_printed_link_and_code_and_ends_connected(
    kafka: KafkaSettings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = worker_env | {
        "CTRACK_AUTH_PORT": str(port),
        "CTRACK_AUTH_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CTRACK_AUTH_DATA_DIR": str(tmp_path / "auth"),
        "CTRACK_NOTIFY_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    demo = subprocess.run(
        [sys.executable, "-m", "ctrack.cli.main", "auth", "demo", "--no-keep-running"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    [(client_id, base, token)] = INVITE_LINE.findall(demo.stdout)
    [(sms_client, sms_link, code)] = CODE_LINE.findall(demo.stdout)
    link = f"{base}/client/links/{token}"
    assert base == f"http://127.0.0.1:{port}" and (sms_client, sms_link) == (client_id, link)
    assert f"the client enters the printed code {code}: status CONNECTED" in demo.stdout
    assert "client-status stream" in demo.stdout

    master = DEVELOPMENT_AUTH_KEY.encode()
    link_id = LinkTokens(master).link_id(token)
    events = topic_rows(
        kafka, CLIENT_EVENTS, lambda rs: bool(of_client(rs, client_id, event_type="OTP_VERIFIED"))
    )
    [selected] = of_client(events, client_id, event_type="LINK_SELECTED")
    [verified] = of_client(events, client_id, event_type="OTP_VERIFIED")
    assert selected["link_id"] == link_id and verified["link_id"] == link_id
    notices = topic_rows(
        kafka, NOTIFICATIONS, lambda rs: bool(of_client(rs, client_id, message_kind="OTP_SMS"))
    )
    [sms] = of_client(notices, client_id, message_kind="OTP_SMS")
    counter = otp_counter(sms["secret_ref"])
    assert counter is not None
    assert OneTimeCodes(master).code(DEMO_FIRM, client_id, counter) == code

    written = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
    assert {(m["message_kind"], m["link"], m["code"]) for m in written} == {
        ("DYNAMIC_PASSWORD_INVITE", link, None),
        ("OTP_SMS", link, code),
    }
    statuses = topic_rows(
        kafka,
        CLIENT_STATUS_TOPIC,
        lambda rs: any(r["status"] == "CONNECTED" for r in of_client(rs, client_id)),
    )
    latest = of_client(statuses, client_id)[-1]
    assert (latest["status"], latest["identity_verified"]) == ("CONNECTED", True)
