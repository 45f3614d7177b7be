"""The detector job: pure statistics -> detectors computed in the engine -> alerts, on a schedule."""
