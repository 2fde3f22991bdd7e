"""YAML in: content files read with their positions, checked against schemas, loaded into a typed model, cross-validated."""
