"""Identity: normalizing identifiers before dbt stitches them into profiles."""
