"""mlsiem: SIEM integration for AI systems.

The core package holds what the shipper and the detector job share: connection settings, the engine
adapter, the ECS models, index setup and the local engine's control. It never imports `shipper` or
`detections`; only `mlsiem.cli` assembles all three.
"""

__version__ = "0.1.0"
