"""The dynamic password service: firm and client flows with one-time passwords over HTTP."""
