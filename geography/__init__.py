"""The city's geography: districts, streets, communities, the unit grid, surveyed city components, and locate()."""
