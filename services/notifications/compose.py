"""A notification plus its secrets and its recipient's contact -> the message a provider sends.

Links and codes are rebuilt here from the ids on the notification (`services.credentials`):
neither ever travels on a topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.credentials import Contact, LinkTokens, OneTimeCodes, login_url, otp_counter
from services.notifications.errors import ContactUnavailable, InvalidNotification
from services.notifications.requests import Notification
from services.notifications.templates import Rendered, render
from services.webhooks.records import Channel


@dataclass(frozen=True, slots=True)
class Content:
    """What a notification says, before it has an address."""

    subject: str | None
    body: str
    link: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message for one address; `to` is an email address or a phone number, in clear."""

    notification: Notification
    to: str
    content: Content


class MessageSecrets:
    """Builds the login link and one-time code a notification names by id."""

    def __init__(
        self, tokens: LinkTokens, codes: OneTimeCodes, public_url: str, code_validity_s: int
    ):
        self._tokens = tokens
        self._codes = codes
        self._public_url = public_url
        self.code_validity_s = code_validity_s

    def link(self, link_id: str) -> str:
        return login_url(self._public_url, self._tokens.issue(link_id))

    def code(self, notification: Notification) -> str | None:
        """The code `secret_ref` names, None if it names none; InvalidNotification if malformed."""
        if notification.secret_ref is None:
            return None
        counter = otp_counter(notification.secret_ref)
        if counter is None:
            raise InvalidNotification("secret_ref names no one-time code (expected otp:<n>)")
        if notification.client_id is None:
            raise InvalidNotification("a one-time code needs the client_id it belongs to")
        return self._codes.code(notification.firm_id, notification.client_id, counter)


def content_of(notification: Notification, secrets: MessageSecrets) -> Content:
    """The rendered text with its link and code; raises InvalidNotification if one is missing."""
    link = secrets.link(notification.link_id) if notification.link_id else None
    code = secrets.code(notification)
    rendered: Rendered = render(
        notification.message_kind,
        notification.channel,
        link=link,
        code=code,
        code_validity_s=secrets.code_validity_s,
    )
    return Content(rendered.subject, rendered.body, link, code)


def address_for(channel: Channel, contact: Contact) -> str:
    """The contact's email (EMAIL) or phone (SMS); ContactUnavailable while it has none."""
    address = contact.email if channel is Channel.EMAIL else contact.phone
    if not address:
        kind = "email address" if channel is Channel.EMAIL else "mobile number"
        raise ContactUnavailable(f"the client's contact has no {kind}")
    return address
