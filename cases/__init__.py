"""Digital urban management cases: the catalogue's time limits, intake, the workflow and its SLA clock."""
