"""City lifelines: gas, water, drainage, heating, bridges, manholes and waterlogging sensors, thresholds and alarms."""
