"""Photo intake shared by every domain: content checks, size and pixel limits, metadata stripping."""
