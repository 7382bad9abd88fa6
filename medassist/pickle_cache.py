"""Build-once objects kept as pickles in the cache dir (CIM-10 catalogue, coding pipeline).

Why: building them takes seconds to minutes on 2 cores; later processes unpickle them. The file
name carries a key of everything the object is built from, so a change of source or code writes a
new file (and removes the older ones with the same prefix). A corrupt or unreadable file is rebuilt;
a read-only cache dir leaves the object in memory only.

Example::

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> cached(d / "demo_1.pkl", lambda: {"built": True})
    {'built': True}
    >>> sorted(p.name for p in d.iterdir())
    ['demo_1.pkl']
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_UNREADABLE = (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError)


def cached(path: Path, build: Callable[[], T], *, use_cache: bool = True,
           valid: Callable[[object], bool] = lambda obj: True) -> T:
    """The object pickled at ``path`` (``<prefix>_<key>.pkl``), or ``build()`` written there.

    ``valid`` rejects a readable pickle of the wrong kind (then it is rebuilt). Files with the same
    prefix and another key are deleted after a successful write."""
    if use_cache and path.exists():
        try:
            with path.open("rb") as fh:
                obj = pickle.load(fh)
            if valid(obj):
                return obj
        except _UNREADABLE:
            pass  # rebuilt below
    obj = build()
    if use_cache:
        _store(path, obj)
    return obj


def _store(path: Path, obj: object) -> None:
    prefix = path.name.rsplit("_", 1)[0]
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):  # read-only dir, full disk, unpicklable
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return  # the object stays in memory
    for stale in path.parent.glob(f"{prefix}_*.pkl"):
        if stale != path:
            stale.unlink(missing_ok=True)  # built from older sources or code
