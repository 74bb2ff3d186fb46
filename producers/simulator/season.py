"""A whole simulation: firms, then clients and returns arriving over the window, in time order.

`simulate(plan)` is a generator: arrivals are chained (each one schedules the next), so only
the pending beats of stories in progress are in memory, never the season.
"""

from __future__ import annotations

from collections.abc import Iterator
from random import Random

from producers.simulator import records
from producers.simulator.agenda import Agenda, SimulatedRecord
from producers.simulator.cases import Firm, ReturnCase
from producers.simulator.clients import ClientDesk
from producers.simulator.contacts import Contacts
from producers.simulator.delivery import Mailer
from producers.simulator.firms import make_firms
from producers.simulator.plan import FunnelRates, SimulationPlan
from producers.simulator.returns import ReturnDesk
from producers.simulator.sources import source_events

__all__ = ["SimulatedRecord", "simulate"]

CLIENT_WINDOW_SHARE = 0.5  # clients are added during the first half of the window


def simulate(
    plan: SimulationPlan, rates: FunnelRates | None = None, *, source_only: bool = False
) -> Iterator[SimulatedRecord]:
    """Every record of the plan as (schema name, key, record), in time order.

    The same plan (seed included) always yields the same sequence: all randomness comes from
    one `random.Random(plan.seed)` and ids are derived from the run, never from the clock.
    `source_only` leaves out the records the stream worker derives itself (see `sources`);
    the stories, and so every other record, stay the same.
    """
    season = _Season(plan, rates or FunnelRates())
    records = season.agenda.run()
    return source_events(records) if source_only else records


def run_tag(plan: SimulationPlan) -> str:
    """The prefix of every id of a run, so runs with different seeds never share ids."""
    return f"S{plan.seed}"


class _Season:
    """Wires the desks to one agenda and chains the arrivals of clients and returns."""

    def __init__(self, plan: SimulationPlan, rates: FunnelRates):
        self.plan = plan
        self.rng = rng = Random(plan.seed)  # noqa: S311 - a reproducible simulation, not secrets
        tag = run_tag(plan)
        self.agenda = agenda = Agenda(repr(plan), plan.start_ms, plan.end_ms)
        contacts = Contacts()
        mailer = Mailer(agenda, rng, rates, tag)
        self.clients = ClientDesk(agenda, rng, rates, mailer, contacts)
        self.returns = ReturnDesk(agenda, rng, rates, mailer, contacts)
        self.contacts = contacts
        self.firms = make_firms(rng, tag, plan.firms, rates)
        window = plan.end_ms - plan.start_ms
        self.client_slot = window * CLIENT_WINDOW_SHARE / max(plan.clients, 1)
        self.return_slot = window / max(plan.returns, 1)
        for firm in self.firms:
            agenda.at(plan.start_ms, records.firm_settings, firm)
        if plan.clients:
            agenda.at(self._client_time(0), self._client_arrives, 0)
        if plan.returns:
            agenda.at(self._return_time(0), self._return_delivered, 0)

    # Arrival n lands at a random point of its own slot: times increase without sorting.
    def _client_time(self, n: int) -> int:
        return self.plan.start_ms + int((n + self.rng.random()) * self.client_slot)

    def _return_time(self, n: int) -> int:
        return self.plan.start_ms + int((n + self.rng.random()) * self.return_slot)

    def _client(self, n: int) -> tuple[Firm, str]:
        """Client n: clients are dealt to firms in turn."""
        firm = self.firms[n % len(self.firms)]
        return firm, f"{firm.firm_id}-C{n // len(self.firms) + 1:06d}"

    def _client_arrives(self, time_ms: int, _event_id: str, n: int) -> None:
        firm, client_id = self._client(n)
        self.clients.onboard(firm, client_id, n, time_ms)
        if n + 1 < self.plan.clients:
            self.agenda.at(self._client_time(n + 1), self._client_arrives, n + 1)

    def _return_delivered(self, time_ms: int, _event_id: str, n: int) -> None:
        plan = self.plan
        if plan.clients:
            # a client already added (clients arrive earlier and faster than returns)
            added = int((time_ms - plan.start_ms) / self.client_slot)
            firm, client_id = self._client(
                int(self.rng.random() * min(max(added, 1), plan.clients))
            )
            taxpayer = client_id
        else:
            firm, client_id = self.firms[int(self.rng.random() * len(self.firms))], None
            taxpayer = f"{firm.firm_id}-T{n + 1:07d}"
        case = ReturnCase(firm, f"{firm.firm_id}-R{n + 1:07d}", client_id)
        self.returns.deliver(case, time_ms, self.contacts.email_hash(taxpayer))
        if n + 1 < plan.returns:
            self.agenda.at(self._return_time(n + 1), self._return_delivered, n + 1)
