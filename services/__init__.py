"""Services: the dynamic-password service, tracking queries and notification dispatch."""
