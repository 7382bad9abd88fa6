"""Dates: found by edsnlp's ``eds.dates`` and :mod:`knowledge.dates` regexes, shifted by the export's
secret offset and re-rendered in the format they were written in.

    >>> from datetime import date
    >>> _pad(4, "09"), _pad_text(4, "09"), _same_case("MARS", "avril")
    ('04', '04', 'AVRIL')

Dates written in words (« né le quatorze juin mille neuf cent quarante-six ») are found too, with
the day in words or figures, and re-rendered in words:

    >>> m = DATE_WORDS_RE.search("née le quatorze juin mille neuf cent quarante-six à Rouen")
    >>> _words_date(m)
    datetime.date(1946, 6, 14)
    >>> _render_words(m, date(1946, 7, 1))
    'premier juillet mille neuf cent quarante-six'

Limits: years alone, relative dates and ages are kept (see the package docstring); a date in words
needs its year (« le quatorze juin » alone is kept); years 1900–2099 only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from knowledge.dates import (
    DATE_ISO_RE,
    DATE_MY_RE,
    DATE_NUM_RE,
    DATE_PARTIAL_RE,
    DATE_RANGE_RE,
    DATE_TXT_RE,
    MONTHS,
    MONTHS_ABBR,
    PARTIAL_CUE_RE,
    WEEKDAYS,
    full_year,
    month_number,
)
from knowledge.french import fold_chars
from tools.pseudonymise.patterns import _Cand

if TYPE_CHECKING:
    from tools.pseudonymise.context import PseudoContext

def _same_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _pad(n: int, model: str) -> str:
    """Numeric dates keep their width ("16/02" -> "01/04", "9/2" -> "1/4")."""
    return f"{n:0{len(model)}d}" if len(model) > 1 else str(n)


def _pad_text(n: int, model: str) -> str:
    """Textual dates keep a leading zero only if they had one ("03 mars" vs "12 mars" -> "3 avril")."""
    return f"{n:02d}" if model.startswith("0") else str(n)


def _render_textual(m: re.Match, new: date) -> str:
    weekday, day, month, year = m.group(1), m.group(2), m.group(3), m.group(4)
    parts = []
    if weekday:
        parts.append(_same_case(weekday, WEEKDAYS[new.weekday()]))
    if new.day == 1:  # French writes the first of the month "1er" ("premier" when spelt out)
        parts.append(_same_case(day, "premier") if day.lower() == "premier" else "1er")
    else:
        parts.append(_pad_text(new.day, day) if day.isdigit() else str(new.day))
    abbreviated = month.endswith(".") or (len(month) <= 4
                                          and fold_chars(month) not in ("mars", "mai", "juin", "aout"))
    names = MONTHS_ABBR if abbreviated else MONTHS
    parts.append(_same_case(month, names[new.month - 1]))
    if year:
        parts.append(str(new.year))
    return " ".join(parts)


@dataclass
class _DateHit:
    start: int
    end: int
    replacement: str | None  # None: not a date we can shift (kept as is)


def _parse_date_at(text: str, start: int, end: int, ctx: PseudoContext, year_hint) -> _DateHit | None:
    """Find a shiftable date inside text[start:end] and render it shifted, same format."""
    chunk = text[start:end]
    m = DATE_RANGE_RE.search(chunk)
    if m:
        d1, d2, sep, mo, y = m.groups()
        try:
            a, b = ctx.shift(date(int(y), int(mo), int(d1))), ctx.shift(date(int(y), int(mo), int(d2)))
        except ValueError:
            return None
        if (a.year, a.month) == (b.year, b.month):
            out = f"{_pad(a.day, d1)}-{_pad(b.day, d2)}{sep}{_pad(a.month, mo)}{sep}{a.year}"
        else:
            out = (f"{_pad(a.day, d1)}{sep}{_pad(a.month, mo)}{sep}{a.year}-"
                   f"{_pad(b.day, d2)}{sep}{_pad(b.month, mo)}{sep}{b.year}")
        return _DateHit(start + m.start(), start + m.end(), out)
    m = DATE_NUM_RE.search(chunk)
    if m:
        d, sep, mo, y = m.group(1), m.group(2), m.group(3), m.group(4)
        year = full_year(y)
        try:
            old = date(year, int(mo), int(d))
        except ValueError:
            return None
        new = ctx.shift(old)
        ny = str(new.year) if len(y) == 4 else f"{new.year % 100:02d}"
        return _DateHit(start + m.start(), start + m.end(), f"{_pad(new.day, d)}{sep}{_pad(new.month, mo)}{sep}{ny}")
    m = DATE_ISO_RE.search(chunk)
    if m:
        try:
            old = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
        return _DateHit(start + m.start(), start + m.end(), ctx.shift(old).isoformat())
    m = DATE_TXT_RE.search(chunk)
    if m:
        month = month_number(m.group(3))
        day = 1 if not m.group(2).isdigit() else int(m.group(2))
        year = int(m.group(4)) if m.group(4) else year_hint(start + m.start())
        if month is None:
            return None
        try:
            old = date(year, month, day)
        except ValueError:
            return None
        return _DateHit(start + m.start(), start + m.end(), _render_textual(m, ctx.shift(old)))
    m = DATE_MY_RE.search(chunk)
    if m:
        month = month_number(m.group(1))
        if month is None:
            return None
        new = ctx.shift(date(int(m.group(2)), month, 15))
        names = MONTHS_ABBR if m.group(1).endswith(".") else MONTHS
        rendered = f"{_same_case(m.group(1), names[new.month - 1])} {new.year}"
        return _DateHit(start + m.start(), start + m.end(), rendered)
    m = DATE_PARTIAL_RE.search(chunk)
    if m:
        abs_start = start + m.start()
        if not PARTIAL_CUE_RE.search(text[max(0, abs_start - 16):abs_start]):
            return None
        d, sep, mo = m.group(1), m.group(2), m.group(3)
        try:
            old = date(year_hint(abs_start), int(mo), int(d))
        except ValueError:
            return None
        new = ctx.shift(old)
        return _DateHit(abs_start, start + m.end(), f"{_pad(new.day, d)}{sep}{_pad(new.month, mo)}")
    return None


@lru_cache(maxsize=1)
def _dates_pipeline():
    import edsnlp
    import edsnlp.pipes as eds

    nlp = edsnlp.blank("eds")
    nlp.add_pipe(eds.dates())
    return nlp


def _eds_date_spans(text: str) -> list[tuple[int, int]]:
    """Absolute dates with at least a month found by edsnlp's ``eds.dates``."""
    doc = _dates_pipeline()(text)
    out = []
    for s in doc.spans.get("dates", []):
        d = s._.date
        if getattr(d, "mode", None) is not None and getattr(d.mode, "value", "") != "absolute":
            continue
        if getattr(d, "month", None) is None:
            continue  # years alone are kept (see module docstring)
        out.append((s.start_char, s.end_char))
    return out


_UNITS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze",
          "treize", "quatorze", "quinze", "seize")
_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}


def number_words(n: int) -> str:
    """French words of ``0 ≤ n ≤ 9999`` (traditional spelling, hyphens).

    >>> number_words(71), number_words(80), number_words(1946), number_words(2003)
    ('soixante et onze', 'quatre-vingts', 'mille neuf cent quarante-six', 'deux mille trois')
    """
    if n < 17:
        return _UNITS[n]
    if n < 20:
        return "dix-" + _UNITS[n - 10]
    if n < 70:
        t, u = divmod(n, 10)
        return _TENS[t] + ("" if u == 0 else " et un" if u == 1 else "-" + _UNITS[u])
    if n < 80:
        return "soixante et onze" if n == 71 else "soixante-" + number_words(n - 60)
    if n < 100:
        return "quatre-vingts" if n == 80 else "quatre-vingt-" + number_words(n - 80)
    if n < 1000:
        h, r = divmod(n, 100)
        head = "cent" if h == 1 else _UNITS[h] + " cent" + ("s" if r == 0 else "")
        return head if r == 0 else head + " " + number_words(r)
    th, r = divmod(n, 1000)
    head = "mille" if th == 1 else number_words(th) + " mille"
    return head if r == 0 else head + " " + number_words(r)


def _norm_words(s: str) -> str:
    return re.sub(r"[\s\-]+", " ", fold_chars(s).replace("mil ", "mille "))


def _words_alt(words: dict[str, int]) -> str:
    """Regex alternation of number words, any mix of spaces and hyphens, longest first."""
    pats = {r"[\s\-]+".join(re.escape(w) for w in re.split(r"[\s\-]+", k)) for k in words}
    return "|".join(sorted(pats, key=len, reverse=True))


_DAY_WORDS = {_norm_words(number_words(d)): d for d in range(2, 32)} | {"premier": 1, "un": 1}
_YEAR_WORDS: dict[str, int] = {}
for _y in range(1900, 2100):
    _YEAR_WORDS[_norm_words(number_words(_y))] = _y
    if _y < 2000:  # « dix-neuf cent quarante-six »
        _YEAR_WORDS[_norm_words("dix-neuf cent" + ("" if _y == 1900 else " " + number_words(_y - 1900)))] = _y
_MONTHS_FOLDED = "|".join(sorted({fold_chars(m) for m in MONTHS} | set(MONTHS), key=len, reverse=True))
#: « quatorze juin mille neuf cent quarante-six », « 14 juin mil neuf cent quarante-six », « premier mars … »
DATE_WORDS_RE = re.compile(
    rf"(?<!\w)(?P<day>{_words_alt(_DAY_WORDS)}|1er|\d{{1,2}})[\s\-]+(?P<month>{_MONTHS_FOLDED})[\s\-]+"
    rf"(?P<year>{_words_alt(_YEAR_WORDS).replace('mille', 'mil(?:le)?')})(?!\w)",
    re.IGNORECASE)


def _words_date(m: re.Match) -> date | None:
    day = m.group("day")
    d = 1 if day.lower() == "1er" else int(day) if day.isdigit() else _DAY_WORDS.get(_norm_words(day))
    y = _YEAR_WORDS.get(_norm_words(m.group("year")))
    mo = month_number(m.group("month"))
    try:
        return date(y, mo, d) if d and y and mo else None
    except ValueError:
        return None


def _render_words(m: re.Match, new: date) -> str:
    day = m.group("day")
    if day.isdigit() or day.lower() == "1er":
        d = ("1er" if new.day == 1 else str(new.day)) if not day.startswith("0") else f"{new.day:02d}"
    else:
        d = "premier" if new.day == 1 else number_words(new.day)
    out = f"{d} {MONTHS[new.month - 1]} {number_words(new.year)}"
    return _same_case(m.group(0), out) if not m.group(0).islower() else out


def _date_candidates(text: str, ctx: PseudoContext, reference_date: date | None, use_edsnlp: bool) -> list[_Cand]:
    full_years = [(m.start(), int(m.group(4))) for m in DATE_NUM_RE.finditer(text) if len(m.group(4)) == 4]

    def year_hint(pos: int) -> int:
        nxt = [y for s, y in full_years if pos < s <= pos + 40]
        if nxt:
            return nxt[0]
        if reference_date:
            return reference_date.year
        prev = [y for s, y in full_years if s < pos]
        return prev[-1] if prev else date.today().year

    out: list[_Cand] = []
    seen: set[tuple[int, int]] = set()
    regions: list[tuple[int, int, str]] = []
    if use_edsnlp:
        regions += [(s, e, "eds.dates") for s, e in _eds_date_spans(text)]
    # our regexes run too (safety net); day-months need a cue word either way (_parse_date_at)
    for rx in (DATE_RANGE_RE, DATE_NUM_RE, DATE_ISO_RE, DATE_TXT_RE, DATE_MY_RE, DATE_PARTIAL_RE):
        regions += [(m.start(), m.end(), "motif") for m in rx.finditer(text)]
    for s, e, source in regions:
        hit = _parse_date_at(text, s, e, ctx, year_hint)
        if hit is None or hit.replacement is None or (hit.start, hit.end) in seen:
            continue
        seen.add((hit.start, hit.end))
        out.append(_Cand(hit.start, hit.end, "DATE", hit.replacement, source, 1))
    for m in DATE_WORDS_RE.finditer(text):
        old = _words_date(m)
        if old is not None:
            out.append(_Cand(m.start(), m.end(), "DATE", _render_words(m, ctx.shift(old)), "motif", 1))
    return out

