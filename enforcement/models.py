"""Models of the enforcement app (none yet)."""
