"""Package data of :mod:`knowledge` (CIM-10 chapters, coding synonyms).

A real package (not a bare folder) so that the ``"*.json"`` package-data rule of ``pyproject.toml``
ships these files in wheels; read them with ``importlib.resources.files("knowledge.data")``.
"""
