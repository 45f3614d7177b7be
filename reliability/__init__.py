"""Fault and load runs against a real local engine: the chaos run and the soak run (outside the package)."""
