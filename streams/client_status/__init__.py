"""Client status: the Dynamic Password state machine, per client."""
