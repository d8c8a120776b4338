"""Models of the sanitation app (none yet)."""
