"""The local engine's Maven project (`pom.xml`, `src/`) as package data.

No code lives here; the folder is a package so the wheel carries the project and `importlib.resources`
finds it. `mlsiem.local_engine` builds a copy of it under the user cache at first start, never here.
"""
