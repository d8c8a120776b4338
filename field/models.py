"""Field inspectors on duty: shifts, positions, verification task assignments."""
