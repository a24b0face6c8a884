"""Activation: audiences to destinations, sending only what changed, every record's fate logged."""
