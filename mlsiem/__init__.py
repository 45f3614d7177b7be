"""mlsiem: SIEM integration for AI systems.

The core package holds what the shipper and the detector job share: connection settings, errors, the
engine adapter, the ECS models, index setup and the local engine's control. It imports neither
`shipper`, `detections`, `cli`, `demo` nor `dashboards` (tests/test_layout.py enforces it; the one
exception is `__main__`, the `python -m mlsiem` entry point).
"""

from importlib.metadata import PackageNotFoundError, version

# The version lives in pyproject.toml only; the installed distribution's metadata carries it here.
try:
    __version__ = version("mlsiem")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
