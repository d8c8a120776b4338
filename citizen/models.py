"""Models of the citizen app (none yet)."""
