"""Per-return rules in one agent: access lockout and signing / voucher reminders."""
