"""Season sizes: how many firms, clients and returns each `--scale` simulates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from producers.simulator import SimulationPlan

SEASON_DAYS = 75
EVENTS_PER_RETURN, EVENTS_PER_CLIENT = 26.5, 12.3


@dataclass(frozen=True)
class Scale:
    """One season size: about 26.5 source events per return and 12.3 per client (measured
    with `simulate(plan, source_only=True)`, seed 7)."""

    name: str
    firms: int
    clients_per_firm: int
    returns: int

    @property
    def source_events(self) -> int:
        """About how many source records the season produces."""
        return round(EVENTS_PER_RETURN * self.returns + EVENTS_PER_CLIENT * self.clients)

    @property
    def clients(self) -> int:
        return self.firms * self.clients_per_firm

    def plan(self, seed: int) -> SimulationPlan:
        return SimulationPlan(
            seed=seed,
            firms=self.firms,
            clients_per_firm=self.clients_per_firm,
            returns=self.returns,
            duration=timedelta(days=SEASON_DAYS),
        )


SCALES = {
    scale.name: scale
    for scale in (
        Scale("tiny", firms=5, clients_per_firm=40, returns=300),  # the integration test
        Scale("small", firms=20, clients_per_firm=50, returns=1_500),  # ~1-3 min
        Scale("medium", firms=50, clients_per_firm=100, returns=6_000),
        Scale("large", firms=100, clients_per_firm=100, returns=100_000),  # a tenth of full
        Scale("full", firms=1_000, clients_per_firm=100, returns=1_000_000),  # ~27.7M events
    )
}


def tick_time(plan: SimulationPlan) -> datetime:
    """The one clock tick of a run: the end of the simulated window."""
    return datetime.fromtimestamp(plan.end_ms / 1000, UTC)
