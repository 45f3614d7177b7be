"""mlsiem: SIEM integration for AI systems.

The core package holds what the shipper and the detector job share: connection settings, errors, the
engine adapter, the ECS models, index setup and the local engine's control. It imports neither
`shipper`, `detections`, `cli`, `demo` nor `dashboards` (tests/test_layout.py enforces it; the one
exception is `__main__`, the `python -m mlsiem` entry point).
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`mlsiem.__version__`, read when asked for: the version lives in pyproject.toml only and the
    installed distribution's metadata carries it, but reading that metadata costs every command tens of
    milliseconds of start-up (it scans the installed distributions), so it is not read at import."""
    if name != "__version__":
        raise AttributeError(f"module 'mlsiem' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlsiem")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"
