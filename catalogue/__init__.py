"""The standard classification of city components, events and services, shared by geography and cases."""
