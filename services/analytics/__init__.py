"""Firm analytics over ClickHouse: daily engagement, time to milestones, reminders, funnels."""
