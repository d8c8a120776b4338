"""Sanitation and construction-waste supervision: vehicles and GPS tracks, facilities, sites, disposal sites."""
