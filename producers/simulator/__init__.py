"""A deterministic tax-season generator: every event family of the contract, in time order."""

from producers.simulator.plan import FunnelRates, SimulationPlan
from producers.simulator.season import SimulatedRecord, simulate

__all__ = ["FunnelRates", "SimulatedRecord", "SimulationPlan", "simulate"]
