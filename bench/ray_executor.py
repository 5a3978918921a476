"""Placeholder module imported by the executor registry; the Ray executor registers here (optional extra)."""
