"""`mlsiem demo`: a seeded scenario with injected incidents (`demo.scenario`), the story that ships,
baselines and detects it on a simulated clock, and the scorecard (`demo.story`).

Application code: it assembles the shipper and the detector job; neither of those imports it.
"""
