"""Counters of the service, rendered in the Prometheus text format at /metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Metrics:
    """What the service did since it started (one instance per process)."""

    responses: Counter[tuple[str, int]] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    relay_delivered: int = 0
    relay_failed: int = 0
    ingested: int = 0
    ingest_skipped_own: int = 0

    def render(self, outbox_pending: int) -> str:
        lines = [
            "# TYPE ctrack_auth_responses_total counter",
            *(
                f'ctrack_auth_responses_total{{route="{route}",status="{status}"}} {count}'
                for (route, status), count in sorted(self.responses.items())
            ),
            "# TYPE ctrack_auth_decisions_total counter",
            *(
                f'ctrack_auth_decisions_total{{decision="{name}"}} {count}'
                for name, count in sorted(self.decisions.items())
            ),
            "# TYPE ctrack_auth_outbox_delivered_total counter",
            f"ctrack_auth_outbox_delivered_total {self.relay_delivered}",
            "# TYPE ctrack_auth_outbox_failed_total counter",
            f"ctrack_auth_outbox_failed_total {self.relay_failed}",
            "# TYPE ctrack_auth_outbox_pending gauge",
            f"ctrack_auth_outbox_pending {outbox_pending}",
            "# TYPE ctrack_auth_events_read_total counter",
            f"ctrack_auth_events_read_total {self.ingested}",
            "# TYPE ctrack_auth_own_events_read_total counter",
            f"ctrack_auth_own_events_read_total {self.ingest_skipped_own}",
        ]
        return "\n".join(lines) + "\n"
