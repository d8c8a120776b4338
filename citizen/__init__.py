"""Citizen services: public reports, rewards, satisfaction follow-up, Open311, stall zones and household services."""
