"""The traffic simulator: seeded cross-border journeys with injected faults, sent in each
source's own wire format through the signed gateway (``trackhub simulate``)."""
