"""What the application may write in its logs about a failure: never patient text.

Exception messages and tracebacks can quote what they failed on: a pydantic error repeats the
model's output, a ``KeyError`` its key, a parser error a line of the document. Application logs
are not access-controlled like the record, so our log calls name the exception type and the
place it was raised, and nothing of its message; the user gets a French message separately.

Example::

    >>> try:
    ...     {}["LECLERC Bernard"]
    ... except KeyError as exc:
    ...     describe(exc)                                           # doctest: +ELLIPSIS
    'KeyError (<doctest ...>:2 in <module>)'

Limits: third-party libraries log on their own; the browser suite scans the UI server's whole
log for the corpus' identities and document sentences (tests/e2e/test_logs.py).
"""

from __future__ import annotations

import traceback
from pathlib import Path


def describe(exc: BaseException) -> str:
    """``Type (file:line in function)`` of the innermost frame, plus the causes' types."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    causes = []
    seen = {id(exc)}
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen and len(causes) < 3:
        seen.add(id(cause))
        causes.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}{where}" + (f" ← {' ← '.join(causes)}" if causes else "")
