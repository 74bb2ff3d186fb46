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
    ) -> str | None:
        """Schedule one client event; `user` names a firm user as the one who acted. Returns
        its event id, or None when it falls past the end of the window (it never happens)."""
        if user:
            facts = {**(facts or {}), "firm_user": firm_user(self._rng, case.firm)}
        seq = self._agenda.at(t, records.client_event, case, kind, actor, facts)
        return self._agenda.event_id(seq) if seq else None
