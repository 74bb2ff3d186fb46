"""Scheduling one Dynamic Password event of a client (the shared step of every client story)."""

from __future__ import annotations

from random import Random

from producers.simulator import records
from producers.simulator.agenda import Agenda, Record
from producers.simulator.cases import ClientCase
from producers.simulator.firms import firm_user

NEVER = 1 << 62  # "did not happen": later than any simulated time
CLIENT, FIRM_USER, SYSTEM = "CLIENT", "FIRM_USER", "SYSTEM"


class ClientEvents:
    """Schedules client events on the agenda."""

    def __init__(self, agenda: Agenda, rng: Random):
        self._agenda, self._rng = agenda, rng

    def at(
        self,
        t: int,
        case: ClientCase,
        kind: str,
        actor: str,
        facts: Record | None = None,
        *,
        user: bool = False,
    ) -> None:
        """Schedule one client event; `user` names a firm user as the one who acted."""
        if user:
            facts = {**(facts or {}), "firm_user": firm_user(self._rng, case.firm)}
        self._agenda.at(t, records.client_event, case, kind, actor, facts)
