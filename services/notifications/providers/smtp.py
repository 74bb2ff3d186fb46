"""Email over SMTP (stdlib smtplib), with STARTTLS before any credentials or content."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime

from services.notifications.compose import OutgoingMessage
from services.notifications.errors import ProviderError
from services.notifications.providers import SendReceipt
from services.notifications.providers.callbacks import callback_ids
from services.webhooks.records import DeliveryStatus, Provider

ID_HEADER_PREFIX = "X-Ctrack-"


class SmtpSender:
    """One SMTP session per message (a dispatcher sends a few per second at most)."""

    provider = Provider.SMTP

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout_s: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ):
        """`tls_context`: how the server's certificate is checked (default: system CAs)."""
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._starttls = starttls
        self._timeout_s = timeout_s
        self._tls_context = tls_context or ssl.create_default_context()

    def send(self, message: OutgoingMessage) -> SendReceipt:
        email = self.email_of(message)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as session:
                self._open(session)
                session.send_message(email)
        except (smtplib.SMTPConnectError, ConnectionRefusedError) as exc:
            raise ProviderError("SMTP server not reachable", retriable=True) from exc
        except smtplib.SMTPResponseException as exc:
            # 4xx: the server refused for now and kept nothing; 5xx: refused for good
            raise ProviderError(
                f"SMTP server refused the message: {exc.smtp_code}",
                retriable=400 <= exc.smtp_code < 500,
                code=str(exc.smtp_code),
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise ProviderError("SMTP server refused the recipient") from exc
        except (smtplib.SMTPException, OSError) as exc:
            # e.g. the connection dropped during DATA: whether it went out is unknown
            raise ProviderError(f"SMTP session failed: {type(exc).__name__}") from exc
        # our id, not the Message-ID header: that one looks like an address to the PII guard
        notification_id = message.notification.notification_id
        return SendReceipt(Provider.SMTP, notification_id, DeliveryStatus.PROCESSED)

    def email_of(self, message: OutgoingMessage) -> EmailMessage:
        """The MIME message: our ids as X-Ctrack-* headers, the notification id in Message-ID."""
        notification = message.notification
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.to
        email["Subject"] = message.content.subject or ""
        email["Date"] = format_datetime(notification.requested_at)
        domain = self._sender.rpartition("@")[2] or "ctrack.local"
        email["Message-ID"] = f"<{notification.notification_id}@{domain}>"
        for name, value in callback_ids(notification).items():
            email[ID_HEADER_PREFIX + name.replace("_", "-").title()] = value
        email.set_content(message.content.body)
        return email

    def close(self) -> None:
        """Sessions are per message: nothing to release."""

    def _open(self, session: smtplib.SMTP) -> None:
        session.ehlo()
        if self._starttls:
            try:
                session.starttls(context=self._tls_context)
            except smtplib.SMTPNotSupportedError as exc:
                raise ProviderError("SMTP server does not offer STARTTLS; not sending") from exc
            session.ehlo()
        if self._username:
            session.login(self._username, self._password or "")
