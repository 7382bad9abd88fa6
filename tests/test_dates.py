"""knowledge.dates: the one French date parser (forms, offsets, edge cases) and formatter."""

import doctest
from datetime import date, datetime

import pytest

import knowledge.dates as dates
from knowledge.dates import find_dates, fr_date, full_year, month_number, months_named, parse_date


def test_doctests():
    assert doctest.testmod(dates).failed == 0


@pytest.mark.parametrize("text, expected", [
    ("le 12/03/2026", date(2026, 3, 12)),
    ("le 12/03/26", date(2026, 3, 12)),
    ("le 12.03.2026", date(2026, 3, 12)),
    ("le 12-03-2026", date(2026, 3, 12)),
    ("le 2/3/2026", date(2026, 3, 2)),
    ("le 2026-03-12", date(2026, 3, 12)),
    ("le 12 janvier 2027", date(2027, 1, 12)),
    ("le 1er mars 2026", date(2026, 3, 1)),
    ("le premier mars 2026", date(2026, 3, 1)),
    ("LE 3 FÉVRIER 2026", date(2026, 2, 3)),
    ("le 3 fevrier 2026", date(2026, 2, 3)),
    ("le 3 févr. 2026", date(2026, 2, 3)),
    ("le 15 août 2026", date(2026, 8, 15)),
    ("le 15 aout 2026", date(2026, 8, 15)),
    ("mardi 3 février 2026", date(2026, 2, 3)),
])
def test_forms(text, expected):
    found = find_dates(text)
    assert len(found) == 1
    m = found[0]
    assert m.date == expected
    assert text[m.start:m.end] == m.text  # exact offsets


def test_offsets_in_a_sentence():
    text = "Entrée le 09/02/2026, sortie le 13 février 2026 ; revu en mars 2026 et le 02/04."
    got = [(m.kind, text[m.start:m.end]) for m in find_dates(text)]
    assert got == [("numeric", "09/02/2026"), ("text", "13 février 2026"), ("month_year", "mars 2026"),
                   ("day_month", "02/04")]
    first = find_dates(text)[0]
    assert (first.start, first.end) == (10, 20)


def test_partial_dates_need_a_cue():
    assert find_dates("EVA 4/10, 1/2 comprimé") == []
    assert [m.text for m in find_dates("EVA 4/10", cue=False)] == ["4/10"]
    m = find_dates("depuis le 13/02")[0]
    assert (m.kind, m.day, m.month, m.year, m.date) == ("day_month", 13, 2, None, None)


def test_textual_date_without_year():
    m = find_dates("RDV le 12 mars à 10h")[0]
    assert (m.kind, m.day, m.month, m.year, m.date) == ("text", 12, 3, None, None)


def test_impossible_dates_are_found_without_a_date():
    m = find_dates("le 31/02/2026")[0]
    assert m.text == "31/02/2026" and m.date is None
    assert find_dates("le 12/13/2026") == []  # no month 13: not a date at all


def test_not_dates():
    assert find_dates("TA 120/80 mmHg, FC 72/min, 2.5 mg, version 1.2.3") == []
    assert find_dates("C3J1, J-3, 10h30") == []
    assert find_dates("") == []


def test_longest_reading_wins():
    assert [m.text for m in find_dates("le 12/03/2026")] == ["12/03/2026"]  # not the day-month 12/03
    assert [m.text for m in find_dates("le 1er mars 2026")] == ["1er mars 2026"]  # not "mars 2026"


def test_two_digit_years():
    assert full_year("48", pivot=30) == 1948 and full_year("27", pivot=30) == 2027 and full_year("1948") == 1948
    assert find_dates("né le 12/03/48")[0].date == date(1948, 3, 12)
    assert find_dates("le 12/03/48", pivot=99)[0].date == date(2048, 3, 12)


def test_months():
    assert [month_number(w) for w in ("janvier", "Févr.", "SEPT", "déc", "aout")] == [1, 2, 9, 12, 8]
    assert month_number("ma") is None and month_number("lundi") is None
    assert months_named("Quel traitement en mars ou en Avril ?") == {3, 4}
    assert months_named("marsupial") == set()


def test_parse_date():
    assert parse_date("2026-02-18T10:00:00+00:00") == date(2026, 2, 18)
    assert parse_date(datetime(2026, 2, 18, 10)) == date(2026, 2, 18)
    assert parse_date(date(2026, 2, 18)) == date(2026, 2, 18)
    assert parse_date("rien") is None and parse_date(None) is None
    assert parse_date("le 31/02/2026 puis le 01/03/2026") == date(2026, 3, 1)


def test_fr_date():
    assert fr_date(date(2026, 12, 12)) == "12/12/2026"
    assert fr_date(date(2026, 3, 1), long=True) == "1er mars 2026"
    assert fr_date(date(2026, 8, 15), long=True) == "15 août 2026"
    assert fr_date("2026-02-18") == "18/02/2026"
    assert fr_date("2026-02-18T10:00:00+00:00", long=True) == "18 février 2026"
    assert fr_date(datetime(2026, 2, 18, 23, 59)) == "18/02/2026"
    assert fr_date(None) == "" and fr_date("") == "" and fr_date("hier") == "hier"
