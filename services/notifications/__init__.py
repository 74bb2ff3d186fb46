"""Notification dispatcher: sends the `notifications` outbox by email and SMS, each id once."""
