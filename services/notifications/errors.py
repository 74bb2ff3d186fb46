"""Errors of the notification dispatcher."""

from __future__ import annotations


class NotificationError(Exception):
    """Root of every error in `services.notifications`."""


class InvalidNotification(NotificationError):
    """The notification cannot be sent as asked (e.g. an invite without a link): dead-lettered."""


class ContactUnavailable(NotificationError):
    """No usable address yet: the dispatcher waits (bounded) for client-contacts, then gives up.

    `permanent` means waiting cannot help (no client to look up, a contact sealed for another
    firm or with an unknown key): the notification is dead-lettered at once.
    """

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


class ProviderError(NotificationError):
    """A provider did not take the message.

    `retriable` says the provider surely sent nothing and may take it later (connection
    refused, throttled, a temporary refusal), so trying again cannot send twice; otherwise
    (refused for good, or unknown whether it went out) the send is recorded as failed.
    `code` is the provider's status or error code, if any.
    """

    def __init__(self, reason: str, *, retriable: bool = False, code: str | None = None):
        super().__init__(reason)
        self.retriable = retriable
        self.code = code


class ProviderConfigError(NotificationError):
    """The chosen provider is not configured (missing key, unknown provider name)."""


class LedgerError(NotificationError):
    """The send ledger was asked for a transition its state machine does not allow."""


class SendInDoubt(NotificationError):
    """A previous dispatch died during the provider call: it may have gone out, so it is
    reported (dead-letter topic) and never sent again."""
