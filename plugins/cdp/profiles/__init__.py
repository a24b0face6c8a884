"""Unified profiles: the merge policy that decides each attribute's value."""
