"""Known-customer activation platform."""
