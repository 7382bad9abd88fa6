"""Pseudonymised export of one patient's record, for research extracts prepared by the DIM.

Why: coders (DIM) hand documents to research teams; those must not carry the patient's direct
identifiers. :func:`export_pseudonymised` writes, for every document of one patient, its extracted
text with identifiers replaced by consistent surrogates, plus a ``manifest.json`` that holds no
secret, after checking the role (only coders may export) and writing the audit trail.

What is replaced, and by what (one :class:`PseudoContext` per export, so a person keeps the same tag
in every document of the export):

=============  ==========================================  ===================================
category       detected by                                 replaced by
=============  ==========================================  ===================================
``NOM``        patient.json (patient, birth name, GP,      ``[NOM_1]`` (patient), ``[NOM_2]``…
               contacts, referring doctors, authors) in    one tag per person; titles ("Dr",
               variants "Jean DUPONT", "DUPONT Jean",      "Mme") and roles are kept.
               "J. DUPONT", any case, parts of compound    Undeclared persons get the next
               names; undeclared names after a title, a    tags; a surname recognised once is
               role ("fils", "voisine", "IDE"), or found   replaced wherever it is capitalised
               by the first-name/surname gazetteer         ("boulangerie Kahn")
               (:mod:`.gazetteer`, faker's French lists)
``DATE``       ``eds.dates`` (edsnlp) + knowledge.dates    the same date shifted by a secret
               (union) + dates in words ("quatorze juin    per-patient offset (± 30–365 days),
               mille neuf cent quarante-six")              same format, words in words
``TEL``        any ten-digit French number, any grouping   ``[TEL]``
               and prefix (+33, 0033, (0)); declared
               numbers with digits normalised
``EMAIL``      e-mail pattern, obfuscated forms            ``[EMAIL]``
               ("(at)", "[at]", "arobase", "[dot]")
``ADRESSE``    declared streets + street/postcode rules,   ``[ADRESSE]`` / ``[VILLE]``
               lieux-dits and hamlets, the commune after
               a residence verb ("vit seul à …")
``HOPITAL``    a care facility named after its kind        ``[HOPITAL]``
               ("CHU de …", "Clinique Saint-…", "EHPAD …")
``NIR``        13/15-digit NIR, any separators, key        ``[NIR]``
               written "clé 78" or "/ 78"
``IPP``        8-digit numbers, "IPP …" labels, metadata   ``[IPP]``
``RPPS``       11-digit RPPS numbers, "RPPS"/"ADELI"       ``[RPPS]``
``ID``         labelled numbers ("N° d'examen : H26-…")   ``[ID]``
=============  ==========================================  ===================================

edsnlp 0.23 ships ``eds.dates`` (used here) but no pseudonymisation rules: AP-HP's ``eds-pseudo``
is a separate project and is not installable offline, so the phone / e-mail / NIR / IPP / RPPS /
address / hospital / name rules are our own (below), with a gazetteer of first names and surnames
taken from the ``faker`` package (no model is installable offline here).

After replacement a **second pass** (:func:`scan_residuals`) re-scans every output text for the
original metadata values (names and their parts, phones, IPP, NIR, RPPS, e-mails, streets,
postcodes, the birth date in figures and in words) and runs the first pass's own detectors again
(phones, NIR, e-mails plain or obfuscated, addresses, hamlets, hospitals, gazetteer and role
names). Residuals are reported by document, category and position only, never with their value; by
default the export is then refused and nothing is written (fail closed).

Example::

    >>> from medassist.schemas import Patient
    >>> p = Patient.model_validate({"id": "P9", "identity": {"first_name": "Jean", "last_name": "DUPONT",
    ...     "sex": "M", "birth_date": "1948-03-12", "ipp": "80012345", "phone": "06 12 34 56 78"},
    ...     "gp": {"name": "Dr Anne MOREL"}})
    >>> r = pseudonymise_text("M. DUPONT Jean, né le 12/03/1948, IPP 80012345. Tél. 06 12 34 56 78. "
    ...                       "Courrier au Dr A. Morel.", p, offset_days=10, use_edsnlp=False)
    >>> r.text
    'M. [NOM_1], né le 22/03/1948, IPP [IPP]. Tél. [TEL]. Courrier au Dr [NOM_2].'

Honest limits (measured numbers: ``bench/pseudo_eval.py`` on the synthetic corpus, declared
identifiers only; ``bench/pseudonymisation_eval.py`` on 360 annotated snippets with undeclared ones,
protocol in ``knowledge/eval/pseudonymisation/PROTOCOL.md``: blind test recall 0.97 — names 0.96,
addresses 0.875, dates, phones, NIR, IPP, e-mails, hospitals 1.0 — at character precision 1.0):

* Names that are also common words are replaced only with context: « Mme Blanc », « sa fille
  Rose », « Rose FOURNIER » go; a lower-case « blanc » or « marchand » with no title stays (it could
  be the adjective), and so does a declared « Claire » opening a sentence. Rare or foreign
  surnames absent from the gazetteer are found only after a title, a role, a known first name, or
  once recognised elsewhere in the export.
* « M. Carpentier »: « M. » is read as Monsieur (kept), only the surname goes.
* Day-month dates without a year ("le 13/02") are shifted only after a cue word (le, du, au, les,
  et, depuis…), so "EVA 4/10" stays; the year is taken from the next full date or the document's.
  A date in words needs its year (1900–2099).
* Every French phone number is replaced, the hospital's own switchboard numbers included (hence the
  low phone "precision" of the corpus bench: those numbers are not in patient.json); so are the
  hospital's own name and its RPPS numbers.
* Years alone ("en 2019"), relative dates ("il y a 3 jours"), ages and durations are kept: the
  offset is under a year, so the text stays coherent to ± 1 year. Ages ≥ 90 are not aggregated.
* A city alone ("Valmont, le 09/02/2026", "Ville natale : Rouen") is kept; a city after a postcode,
  after a street and a comma, or after a residence verb ("vit à", "domicilié à", "né … à") is
  replaced. Room numbers ("chambre 214") are kept. A hospital named without its kind (« à
  Charles-Nicolle ») is not found.
* Pseudonymised is not anonymised: the clinical narrative can still re-identify a patient with a
  rare history; the export goes to a research team under the DIM's agreement, not to the public.

Package layout (one concern per module): :mod:`.patterns` (identifier regexes and word lists),
:mod:`.names` (declared persons, title/role/gazetteer name rules), :mod:`.gazetteer` (first names and
surnames), :mod:`.context` (one export's consistent state),
:mod:`.dates` (find, shift, re-render), :mod:`.engine` (first pass), :mod:`.residuals` (fail-closed
second pass), :mod:`.export` (files, manifest, role check, audit).
"""

from tools.pseudonymise.context import PseudoContext
from tools.pseudonymise.engine import PseudoResult, Replacement, pseudonymise_text
from tools.pseudonymise.export import (
    DOC_TYPE_FR,
    ExportedDocument,
    ExportReport,
    PseudonymisationError,
    ResidualEntry,
    export_pseudonymised,
)
from tools.pseudonymise.names import Person, split_name
from tools.pseudonymise.patterns import CATEGORIES, PSEUDO_VERSION, TOOL
from tools.pseudonymise.residuals import Residual, scan_residuals

__all__ = [
    "CATEGORIES", "DOC_TYPE_FR", "PSEUDO_VERSION", "TOOL", "ExportReport", "ExportedDocument", "Person",
    "PseudoContext", "PseudoResult", "PseudonymisationError", "Replacement", "Residual", "ResidualEntry",
    "export_pseudonymised", "pseudonymise_text", "scan_residuals", "split_name",
]
