"""Models of the working calendar (none yet)."""
