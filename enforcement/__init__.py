"""Urban enforcement: illegal construction, enforcement cases, planning projects and outdoor advertising."""
