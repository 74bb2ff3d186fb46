"""Signing and payment-voucher reminders per delivered return."""
