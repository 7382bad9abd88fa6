"""French dates, written once: month names, the date patterns, one parser with offsets, one formatter.

Why: the drafting verifier must read "12/03/2026" in a source and "12 mars 2026" in a letter as the
same fact, the pseudonymiser must find every date of a document to shift it, the appointment
parser must read the date of a request, the agent must tell that a sentence holds a date, and the
screens print dates. Written once, they read the same forms:

* numeric ``12/03/2026``, ``12/03/26``, ``12.03.2026``, ``12-03-2026`` (one separator throughout;
  two-digit years: see :func:`full_year`), ISO ``2026-03-12``;
* in words ``12 janvier 2027``, ``1er mars 2026``, ``premier mars``, ``lundi 3 février 2026``,
  ``3 févr. 2026`` (abbreviated months, accents optional, any case), the year optional;
* month and year ``mars 2026``; day and month ``13/02`` (a day-month is a date only after a cue
  such as "le", "du", "depuis": "EVA 4/10" and "1/2 comprimé" are not dates).

:func:`find_dates` returns every date of a text as :class:`DateMatch` with exact offsets
(``text[m.start:m.end] == m.text``), the longest reading first ("12/03/2026" is one date, not a
day-month followed by a year). :func:`fr_date` prints a date the French way.

Example::

    >>> [(m.text, str(m.date)) for m in find_dates("Vu le 1er mars 2026, revu le 12/03/26 et le 13.03.2026.")]
    [('1er mars 2026', '2026-03-01'), ('12/03/26', '2026-03-12'), ('13.03.2026', '2026-03-13')]
    >>> m = find_dates("RDV lundi 12 janvier 2027 à 9 h")[0]
    >>> m.kind, m.start, m.end, m.weekday, m.date
    ('text', 4, 25, 'lundi', datetime.date(2027, 1, 12))
    >>> parse_date("le 3 févr. 2026"), fr_date("2026-03-01", long=True), fr_date(parse_date("03/02/2026"))
    (datetime.date(2026, 2, 3), '1er mars 2026', '03/02/2026')

Limits: relative dates ("hier", "J3", "dans 15 jours", "la semaine prochaine") are not read;
a day-month or a textual date without a year has ``year=None`` (the caller decides: the
pseudonymiser takes the document's year); two-digit years are guessed (:func:`full_year`);
an impossible date ("31/02/2026") is found with ``date=None``; month names are French only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from knowledge.french import fold

__all__ = [
    "DATE_ISO_RE",
    "DATE_MY_RE",
    "DATE_NUM_RE",
    "DATE_PARTIAL_RE",
    "DATE_RANGE_RE",
    "DATE_TXT_RE",
    "MONTHS",
    "MONTHS_ABBR",
    "MONTH_RE",
    "PARTIAL_CUE_RE",
    "WEEKDAYS",
    "DateMatch",
    "find_dates",
    "fr_date",
    "full_year",
    "month_number",
    "months_named",
    "parse_date",
]

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
MONTHS_ABBR = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS_FOLDED = tuple(fold(m) for m in MONTHS)

#: A French month name, full or abbreviated, accents optional (use with ``re.IGNORECASE``).
MONTH_RE = (r"janvier|janv\.?|f[ée]vrier|f[ée]vr?\.?|mars|avril|avr\.?|mai|juin|juillet|juil\.?|ao[uû]t|"
            r"septembre|sept\.?|octobre|oct\.?|novembre|nov\.?|d[ée]cembre|d[ée]c\.?")
_WEEKDAY_RE = "|".join(WEEKDAYS)

#: ``12/03/2026``, ``12.03.26``, ``12-03-2026``: groups day, separator, month, year (2 or 4 digits).
DATE_NUM_RE = re.compile(r"(?<![\d/.\-])(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/]|[.\-]\d)")
#: ``08-09/08/2026`` (week-end des 8 et 9 août): groups day1, day2, separator, month, year.
DATE_RANGE_RE = re.compile(r"(?<![\d/.\-])(\d{1,2})-(\d{1,2})([/.])(\d{1,2})\3(\d{4})(?![\d/]|[.\-]\d)")
#: ``2026-03-12``: groups year, month, day.
DATE_ISO_RE = re.compile(r"(?<![\d/.\-])(\d{4})-(\d{2})-(\d{2})(?![\d\-])")
#: ``lundi 1er mars 2026``: groups weekday (optional), day (``1er``/``premier``/digits), month, year (optional).
DATE_TXT_RE = re.compile(
    rf"(?:\b({_WEEKDAY_RE})\s+)?\b(1er|premier|\d{{1,2}})\s+({MONTH_RE})(?![\w])(?:\s+(\d{{4}}))?", re.IGNORECASE)
#: ``mars 2026``: groups month, year.
DATE_MY_RE = re.compile(rf"\b({MONTH_RE})(?<!\.)\s+(\d{{4}})\b", re.IGNORECASE)
#: ``13/02``, ``13.02``: groups day, separator, month. A date only after :data:`PARTIAL_CUE_RE`.
DATE_PARTIAL_RE = re.compile(r"(?<![\d/.\-])(\d{1,2})([/.])(\d{1,2})(?![\d/]|\.\d)")
#: Words before a day-month that make it a date ("le 13/02", "du 09/02 au 13/02"); search it in
#: the 16 characters before the day-month.
PARTIAL_CUE_RE = re.compile(r"(?:\b(?:le|du|au|les|et|depuis|dès|jusqu['’]au|entre|à partir du|avant le|après le|"
                            r"ce|Le|Du|Au|Les|Depuis|Dès|Entre)\s+)$")


def month_number(word: str) -> int | None:
    """1-12 for a French month name, full or abbreviated (3 letters at least), any case or accents.

    >>> month_number("Février"), month_number("fevr."), month_number("AOÛT"), month_number("ma")
    (2, 2, 8, None)
    """
    w = fold(word).rstrip(".")
    for i, m in enumerate(_MONTHS_FOLDED):
        if w == m or (len(w) >= 3 and m.startswith(w)):
            return i + 1
    return None


def months_named(text: str) -> set[int]:
    """Numbers of the months named in full in ``text`` ("en mars ou en avril" -> {3, 4})."""
    f = fold(text)
    return {i + 1 for i, m in enumerate(_MONTHS_FOLDED) if re.search(rf"\b{m}\b", f)}


def full_year(year: str | int, pivot: int | None = None) -> int:
    """A written year as four digits: two-digit years are 20yy up to ``pivot`` (default: next
    year's two digits), else 19yy — a birth date "12/03/48" is 1948, an appointment "12/03/27" 2027.

    >>> full_year("2026"), full_year("26", pivot=30), full_year("48", pivot=30), full_year("48", pivot=99)
    (2026, 2026, 1948, 2048)
    """
    y = int(year)
    if len(str(year)) > 2 or y >= 100:
        return y
    pivot = (date.today().year % 100) + 1 if pivot is None else pivot
    return 2000 + y if y <= pivot else 1900 + y


Kind = Literal["iso", "numeric", "text", "month_year", "day_month"]


@dataclass(frozen=True)
class DateMatch:
    """One date written in a text: exact offsets, what was read, and the date when complete and valid."""

    start: int
    end: int
    text: str
    kind: Kind
    day: int | None
    month: int
    year: int | None
    weekday: str | None = None

    @property
    def date(self) -> date | None:
        """The date, or None when the day or year is missing or the date is impossible."""
        if self.day is None or self.year is None:
            return None
        try:
            return date(self.year, self.month, self.day)
        except ValueError:
            return None


def _day(s: str) -> int:
    return int(s) if s.isdigit() else 1  # "1er", "premier"


def find_dates(text: str, *, pivot: int | None = None, cue: bool = True) -> list[DateMatch]:
    """Every date of ``text``, in order, without overlaps (ISO, numeric, in words, month-year,
    day-month). ``cue=False`` takes every day-month ("4/10") as a date; ``pivot``: see :func:`full_year`.

    >>> [(m.kind, m.text) for m in find_dates("du 09/02 au 13/02/2026, EVA 4/10, en mars 2026")]
    [('day_month', '09/02'), ('numeric', '13/02/2026'), ('month_year', 'mars 2026')]
    """
    found: list[DateMatch] = []
    taken: list[tuple[int, int]] = []

    def add(m: re.Match, kind: Kind, day: int | None, month: int | None, year: int | None,
            weekday: str | None = None) -> None:
        if month is None or not 1 <= month <= 12 or any(m.start() < e and s < m.end() for s, e in taken):
            return
        taken.append(m.span())
        found.append(DateMatch(m.start(), m.end(), m.group(0), kind, day, month, year, weekday))

    for m in DATE_ISO_RE.finditer(text):
        add(m, "iso", int(m.group(3)), int(m.group(2)), int(m.group(1)))
    for m in DATE_NUM_RE.finditer(text):
        add(m, "numeric", int(m.group(1)), int(m.group(3)), full_year(m.group(4), pivot))
    for m in DATE_TXT_RE.finditer(text):
        add(m, "text", _day(m.group(2)), month_number(m.group(3)), int(m.group(4)) if m.group(4) else None,
            m.group(1))
    for m in DATE_MY_RE.finditer(text):
        add(m, "month_year", None, month_number(m.group(1)), int(m.group(2)))
    for m in DATE_PARTIAL_RE.finditer(text):
        if cue and not PARTIAL_CUE_RE.search(text[max(0, m.start() - 16):m.start()]):
            continue
        if 1 <= int(m.group(1)) <= 31:
            add(m, "day_month", int(m.group(1)), int(m.group(3)), None)
    return sorted(found, key=lambda d: d.start)


def parse_date(value: Any) -> date | None:
    """The first complete date of a text (or a date/datetime as is), else None.

    >>> parse_date("2026-02-18T10:00:00+00:00"), parse_date("né le 12.03.1948"), parse_date("hier")
    (datetime.date(2026, 2, 18), datetime.date(1948, 3, 12), None)
    """
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    for m in find_dates(str(value)):
        if m.date is not None:
            return m.date
    return None


_ISO_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def fr_date(value: Any, long: bool = False) -> str:
    """``dd/mm/yyyy``, or ``12 décembre 2026`` / ``1er mars 2026`` when ``long``.

    Takes a date, a datetime or an ISO string (``2026-02-18``, ``2026-02-18T10:00:00``); None or
    "" give ""; any other string is returned unchanged.

    >>> fr_date(date(2026, 12, 12)), fr_date("2026-02-18T10:00:00+00:00"), fr_date(None), fr_date("hier")
    ('12/12/2026', '18/02/2026', '', 'hier')
    """
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        m = _ISO_PREFIX.match(str(value))
        if not m:
            return str(value)
        try:
            value = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return f"{m.group(3)}/{m.group(2)}/{m.group(1)}"
    if long:
        day = "1er" if value.day == 1 else str(value.day)
        return f"{day} {MONTHS[value.month - 1]} {value.year}"
    return value.strftime("%d/%m/%Y")
