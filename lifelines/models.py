"""Models of the lifelines app (none yet)."""
