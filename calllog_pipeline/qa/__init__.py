"""QA layer: a daily scorecard per provider and agent from the normalized tables (docs/metrics.md)."""
