"""One export's consistent state: person tags, the secret date offset, the pseudonymous patient id,
and the declared metadata values (phones, e-mails, streets, numbers).

    >>> from medassist.schemas import Patient
    >>> p = Patient.model_validate({"id": "P9", "identity": {"first_name": "Jean", "last_name": "DUPONT",
    ...     "sex": "M", "birth_date": "1948-03-12", "ipp": "80012345"}, "gp": {"name": "Dr Anne MOREL"}})
    >>> ctx = PseudoContext(p, offset_days=10)
    >>> [(x.tag, x.role) for x in ctx.persons]
    [('[NOM_1]', 'patient'), ('[NOM_2]', 'médecin traitant')]

Limits: the offset lives in memory only; an export cannot be re-linked to the original dates later.
"""

from __future__ import annotations

import random
import re
import secrets
from datetime import date, timedelta

from knowledge.french import fold_chars
from medassist.schemas import Patient
from tools.pseudonymise.names import Person, _person_patterns, split_name
from tools.pseudonymise.patterns import _digits


class PseudoContext:
    """Everything that must stay consistent across the documents of one export: the person tags,
    the secret date offset and the pseudonymous patient id.

    The offset lives only in this object (not in ``repr``, the manifest, the report or the audit):
    with ``seed=None`` it is drawn from :mod:`secrets` and is lost when the export ends.
    """

    def __init__(self, patient: Patient, *, offset_days: int | None = None, seed: int | None = None):
        rng: random.Random = random.Random(seed) if seed is not None else secrets.SystemRandom()
        if offset_days is None:
            offset_days = rng.choice((-1, 1)) * rng.randint(30, 365)
        self._offset = timedelta(days=int(offset_days))
        self.pseudo_patient_id = "PSN-" + "".join(rng.choice("0123456789ABCDEF") for _ in range(8))
        self.patient = patient
        self.persons: list[Person] = []
        self._declare_persons(patient)
        self._patterns = [p for person in self.persons for p in _person_patterns(person)]
        self._unknown: dict[str, Person] = {}
        #: folded surnames of undeclared persons recognised so far: found again in later text
        self.learned_surnames: set[str] = set()

    def __repr__(self) -> str:  # never the offset
        return f"PseudoContext(pseudo_patient_id={self.pseudo_patient_id!r}, persons={len(self.persons)})"

    # ---------------------------------------------------------------- persons
    def _declare_persons(self, p: Patient) -> None:
        seen: dict[tuple, Person] = {}

        def add(name: str | None, role: str, extra_last: list[str] | None = None) -> None:
            if not name:
                return
            firsts, lasts = split_name(name)
            lasts = lasts + [x for x in (extra_last or []) if x]
            if not lasts and not firsts:
                return
            key = (tuple(fold_chars(x) for x in firsts), tuple(fold_chars(x) for x in lasts))
            if key in seen:
                return
            person = Person(tag=f"[NOM_{len(self.persons) + 1}]", role=role, first_names=firsts, last_names=lasts)
            seen[key] = person
            self.persons.append(person)

        ident = p.identity
        add(f"{ident.first_name} {ident.last_name.upper()}", "patient",
            [ident.birth_name] if ident.birth_name else None)
        add(p.gp.name, "médecin traitant")
        for c in p.contacts:
            add(c.name, f"proche ({c.relation})")
        for s in p.stays:
            add(s.referring_doctor, "médecin adresseur")
        for d in p.documents:
            add(d.author, "professionnel de santé (auteur)")

    def person_for(self, words: list[str]) -> Person:
        """The person a title-rule name belongs to: a declared person when its surname matches and
        its first name (if any) is compatible, else a new undeclared person (next tag)."""
        fw = [fold_chars(w).strip(".") for w in words]
        for person in self.persons:
            lasts = {fold_chars(x) for n in person.last_names for x in re.split(r"[\s\-]+", n)}
            firsts = {fold_chars(x) for n in person.first_names for x in re.split(r"[\s\-]+", n)}
            if not lasts & set(fw):
                continue
            rest = [w for w in fw if w not in lasts]
            if all(w in firsts or (len(w) == 1 and any(f.startswith(w) for f in firsts)) for w in rest):
                return person
        surname = [w for w, o in zip(fw, words) if o.isupper() and len(o) > 1] or fw[-1:]
        key = " ".join(surname)
        if key not in self._unknown:
            person = Person(tag=f"[NOM_{len(self.persons) + 1}]", role="personne non déclarée", declared=False)
            self._unknown[key] = person
            self.persons.append(person)
        return self._unknown[key]

    # ---------------------------------------------------------------- dates
    def shift(self, d: date) -> date:
        return d + self._offset

    # ---------------------------------------------------------------- metadata values
    def phones(self) -> list[str]:
        p = self.patient
        return [x for x in [p.identity.phone, p.gp.phone, *[c.phone for c in p.contacts]] if x]

    def emails(self) -> list[str]:
        return [x for x in [self.patient.identity.email, self.patient.gp.email] if x]

    def streets(self) -> list[str]:
        return [a.street for a in (self.patient.identity.address, self.patient.gp.address) if a and a.street]

    def postcodes(self) -> list[str]:
        return [a.postcode for a in (self.patient.identity.address, self.patient.gp.address) if a and a.postcode]

    def numbers(self) -> list[tuple[str, str]]:
        """(category, digits) of the declared IPP, NIR (with and without its key) and RPPS."""
        i = self.patient.identity
        out = [("IPP", _digits(i.ipp))]
        if i.nir:
            out.append(("NIR", _digits(i.nir)))
            if len(_digits(i.nir)) == 15:
                out.append(("NIR", _digits(i.nir)[:13]))
        if self.patient.gp.rpps:
            out.append(("RPPS", _digits(self.patient.gp.rpps)))
        return [(c, d) for c, d in out if len(d) >= 5]

