"""Audiences: their definitions as the dbt project declares them, and why a profile is or is not a member."""
