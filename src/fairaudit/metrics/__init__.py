"""Metrics computed from additive per-cell counts."""
