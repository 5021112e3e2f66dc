"""Market data: the raw-bar contract, normalization with quarantine, and the bar schema."""
