"""Models of the cases app (none yet)."""
