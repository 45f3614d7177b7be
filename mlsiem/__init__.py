"""mlsiem: SIEM integration for AI systems.

The core package holds what the shipper and the detector job share: connection settings, errors, the
engine adapter, the ECS models, index setup and the local engine's control. It imports neither
`shipper`, `detections`, `cli`, `demo` nor `dashboards` (tests/test_layout.py enforces it; the one
exception is `__main__`, the `python -m mlsiem` entry point).
"""

__version__ = "0.1.0"
