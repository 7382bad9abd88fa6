"""Build the annotated pseudonymisation snippets (``dev.jsonl``, ``test.jsonl``) from templates.

Why generated from templates: ≥ 300 snippets with exact character offsets per category cannot be
annotated by hand in a session without offset errors; each template slot renders a value *and* its
span, so the offsets are right by construction (and re-checked by ``tests/test_pseudonymise_eval.py``).
Dev and test use disjoint templates and disjoint filler pools (see ``PROTOCOL.md``).

Run (deterministic, rewrites both files)::

    python knowledge/eval/pseudonymisation/build.py

Limits: template text is short and regular compared with real notes; the fillers are invented.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261203
PER_TEMPLATE = 6

MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]
_UNITS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze",
          "treize", "quatorze", "quinze", "seize"]
_TENS = {20: "vingt", 30: "trente", 40: "quarante", 50: "cinquante", 60: "soixante"}


def words_fr(n: int) -> str:
    """French number words, traditional spelling with hyphens (1 ≤ n ≤ 9999).

    >>> words_fr(46), words_fr(71), words_fr(80), words_fr(1946), words_fr(2003)
    ('quarante-six', 'soixante et onze', 'quatre-vingts', 'mille neuf cent quarante-six', 'deux mille trois')
    """
    if n < 17:
        return _UNITS[n]
    if n < 20:
        return "dix-" + _UNITS[n - 10]
    if n < 70:
        t, u = divmod(n, 10)
        base = _TENS[t * 10]
        return base if u == 0 else base + (" et un" if u == 1 else "-" + _UNITS[u])
    if n < 80:
        return "soixante et onze" if n == 71 else "soixante-" + words_fr(n - 60)
    if n < 100:
        return "quatre-vingts" if n == 80 else "quatre-vingt-" + words_fr(n - 80)
    if n < 1000:
        h, r = divmod(n, 100)
        head = "cent" if h == 1 else _UNITS[h] + " cent" + ("s" if r == 0 else "")
        return head if r == 0 else head + " " + words_fr(r)
    th, r = divmod(n, 1000)
    head = "mille" if th == 1 else words_fr(th) + " mille"
    return head if r == 0 else head + " " + words_fr(r)


# ----------------------------------------------------------------------------- filler pools
POOLS = {
    "dev": {
        "first_m": ["Olivier", "Jean-Pierre", "Marcel", "Thierry", "Karim", "Yannick", "Gérard", "Luc", "Mathis",
                    "Hervé", "Pierre-Yves", "Didier", "Rachid", "Armand", "Gaston", "Lucien"],
        "first_f": ["Monique", "Sylvie", "Anne-Laure", "Fatima", "Chantal", "Maëlle", "Odile", "Josiane", "Rose",
                    "Claire", "Marie-Claude", "Huguette", "Sandrine", "Inès", "Paulette", "Jacqueline"],
        "last": ["Kahn", "Lefebvre", "Martin-Dupont", "Benali", "Le Goff", "Nguyen", "Rousseau", "Carpentier",
                 "Delacroix", "Petitjean", "Blanc", "Kowalski", "Marchand", "Da Silva", "Fournier", "Guérin",
                 "Boulanger", "Mercier", "Lemoine", "Chevalier", "Hamon", "Quesnel", "Leprévost", "Durand-Lebas"],
        "streets": ["rue des Lilas", "avenue Jean Jaurès", "chemin des Prés", "rue du Général Leclerc",
                    "impasse des Tanneurs", "rue Saint-Romain", "boulevard de l'Yser", "place du Marché"],
        "hamlets": ["lieu-dit La Basse Cour", "hameau du Mesnil", "lieu-dit Le Bout du Bois", "hameau de Saint-Clair",
                    "lieu-dit Les Quatre Chemins", "La Ferme des Noës"],
        "cities": [("76000", "Rouen"), ("27210", "Beuzeville"), ("76370", "Neuville-lès-Dieppe"),
                   ("14600", "Honfleur"), ("76190", "Yvetot"), ("27500", "Pont-Audemer")],
        "hospitals": ["CHU de Rouen", "Clinique Saint-Hilaire", "Hôpital Charles-Nicolle", "centre hospitalier de Dieppe",
                      "Clinique de l'Europe", "Hôpital privé de l'Estuaire", "EHPAD Les Tilleuls",
                      "CH du Belvédère"],
        "mail": ["laposte.net", "orange.fr", "gmail.com", "free.fr"],
    },
    "test": {
        "first_m": ["Patrick", "Jean-Claude", "Rémi", "Mohamed", "Loïc", "Bruno", "Francis", "Éric", "Théo", "Serge",
                    "Paul-Henri", "Alain", "Roger", "Samir", "Gilles", "Maxime"],
        "first_f": ["Nathalie", "Marie-Thérèse", "Yvette", "Nadia", "Ginette", "Léa", "Brigitte", "Aurore", "Solène",
                    "Violette", "Colette", "Marine", "Danielle", "Lucie", "Anne-Sophie", "Germaine"],
        "last": ["Schneider", "Moreau-Lambert", "Haddad", "Le Bihan", "Tran", "Girard", "Lacroix", "Vasseur",
                 "Fontaine", "Lebrun", "Meyer", "Masson", "Rolland", "Barbier", "Dos Santos", "Caron", "Poirier",
                 "Brun", "Perrot", "Tessier", "Leclercq", "Jacquet", "Lefranc-Morin", "Duhamel"],
        "streets": ["impasse des Mésanges", "boulevard de Strasbourg", "route de Caen", "allée des Peupliers",
                    "rue Victor Hugo", "avenue de la Libération", "rue des Capucins", "quai Lamandé"],
        "hamlets": ["lieu-dit Les Hauts Champs", "hameau de la Croix Blanche", "La Ferme du Moulin",
                    "lieu-dit Le Vieux Puits", "hameau des Costils", "lieu-dit La Mare aux Saules"],
        "cities": [("14000", "Caen"), ("50100", "Cherbourg-en-Cotentin"), ("61000", "Alençon"), ("27000", "Évreux"),
                   ("50300", "Avranches"), ("14400", "Bayeux")],
        "hospitals": ["CHU de Caen", "Clinique Mathilde", "Hôpital Jacques-Monod", "centre hospitalier d'Évreux",
                      "Polyclinique du Parc", "Clinique Sainte-Marie", "EHPAD La Roseraie", "Hôpital Pasteur"],
        "mail": ["wanadoo.fr", "hotmail.fr", "sfr.fr", "yahoo.fr"],
    },
}


# ----------------------------------------------------------------------------- one snippet's world
@dataclass
class World:
    rng: random.Random
    pool: dict
    sex: str
    first: str
    last: str
    birth: date
    phone: str  # 10 digits
    nir: str  # 15 digits
    ipp: str
    email_local: str
    email_domain: str
    street: str  # "12 rue des Lilas" or a hamlet
    postcode: str
    city: str
    gp_first: str
    gp_last: str
    rel_first: str
    rel_last: str
    rel_relation: str
    rel_declared: bool
    neigh_last: str
    staff_first: str
    staff_last: str
    other_phone: str
    hospital: str
    event: date
    other_street: str
    other_city: tuple[str, str]

    def patient(self, sid: str) -> dict:
        contacts = []
        if self.rel_declared:
            contacts.append({"name": f"{self.rel_first} {self.rel_last.upper()}", "relation": self.rel_relation})
        return {
            "id": sid,
            "identity": {"first_name": self.first, "last_name": self.last.upper(), "sex": self.sex,
                         "birth_date": self.birth.isoformat(), "ipp": self.ipp, "nir": self.nir,
                         "phone": " ".join(self.phone[i:i + 2] for i in range(0, 10, 2)),
                         "email": f"{self.email_local}@{self.email_domain}",
                         "address": {"street": self.street, "postcode": self.postcode, "city": self.city}},
            "gp": {"name": f"Dr {self.gp_first} {self.gp_last.upper()}"},
            "contacts": contacts,
        }


def _fold_ascii(s: str) -> str:
    table = str.maketrans("àâäéèêëîïôöùûüçÀÂÉÈÊÎÔÙÛÇ", "aaaeeeeiioouuucAAEEEIOUUC")
    return s.translate(table)


def make_world(rng: random.Random, pool: dict) -> World:
    sex = rng.choice("MF")
    first = rng.choice(pool["first_m"] if sex == "M" else pool["first_f"])
    last = rng.choice(pool["last"])
    birth = date(1930, 1, 1) + timedelta(days=rng.randint(0, 365 * 70))
    phone = "0" + rng.choice("67") + "".join(rng.choice("0123456789") for _ in range(8))
    dept = rng.choice(["76", "27", "14", "50", "61", "75"])
    nir = (("1" if sex == "M" else "2") + f"{birth.year % 100:02d}{birth.month:02d}{dept}"
           + f"{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}")
    nir += f"{97 - int(nir) % 97:02d}"
    ipp = str(rng.randint(80000000, 89999999))
    local = _fold_ascii(f"{first}.{last}".lower()).replace(" ", "")
    if rng.random() < 0.3:
        local = _fold_ascii(first[0].lower() + last.lower()).replace(" ", "")
    pc, city = rng.choice(pool["cities"])
    street = (f"{rng.randint(1, 120)} {rng.choice(pool['streets'])}" if rng.random() < 0.6
              else rng.choice(pool["hamlets"]))
    others = [x for x in pool["last"] if x != last]
    relation = rng.choice(["fils", "fille", "épouse", "époux", "sœur", "frère", "nièce"])
    rel_pool = pool["first_f"] if relation in ("fille", "épouse", "sœur", "nièce") else pool["first_m"]
    rel_first = rng.choice([x for x in rel_pool if x != first])
    return World(
        rng=rng, pool=pool, sex=sex, first=first, last=last, birth=birth, phone=phone, nir=nir, ipp=ipp,
        email_local=local, email_domain=rng.choice(pool["mail"]), street=street, postcode=pc, city=city,
        gp_first=rng.choice(pool["first_m"] + pool["first_f"]), gp_last=rng.choice(others),
        rel_first=rel_first, rel_last=last if rng.random() < 0.5 else rng.choice(others),
        rel_relation=relation,
        rel_declared=rng.random() < 0.5, neigh_last=rng.choice(others), staff_first=rng.choice(pool["first_f"]),
        staff_last=rng.choice(others),
        other_phone="0" + rng.choice("1234567") + "".join(rng.choice("0123456789") for _ in range(8)),
        hospital=rng.choice(pool["hospitals"]),
        event=date(2024, 1, 1) + timedelta(days=rng.randint(0, 900)),
        other_street=f"{rng.randint(1, 80)} {rng.choice(pool['streets'])}",
        other_city=rng.choice(pool["cities"]),
    )


# ----------------------------------------------------------------------------- slot renderers
Seg = tuple  # (text, category | None, kind | None, declared | None)


def _case(rng, s: str, lower_ok: bool = False) -> str:
    r = rng.random()
    if r < 0.35:
        return s.upper()
    if lower_ok and r > 0.85:
        return s.lower()
    return s


def _date_form(rng, d: date, words: bool = False) -> str:
    m = MONTHS[d.month - 1]
    if words:
        day = "premier" if d.day == 1 else words_fr(d.day)
        return f"{day} {m} {words_fr(d.year)}"
    forms = [f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day}/{d.month}/{d.year}",
             f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",
             f"{'1er' if d.day == 1 else d.day} {m} {d.year}", f"{d.day:02d}-{d.month:02d}-{d.year}",
             f"{d.day} {m.upper()} {d.year}", f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}"]
    return rng.choice(forms)


def _phone_form(rng, p: str, odd: bool) -> str:
    g = [p[i:i + 2] for i in range(0, 10, 2)]
    forms = [" ".join(g), "".join(g), ".".join(g), "-".join(g), "(0)" + p[1] + "-" + "-".join(g[1:]),
             "+33 " + p[1] + " " + " ".join(g[1:]), "+33(0)" + p[1:], "0033 " + p[1] + " " + " ".join(g[1:])]
    if odd:
        forms += [f"{p[:2]} {p[2:4]} {p[4:7]} {p[7:]}", f"{p[:4]} {p[4:7]} {p[7:]}", f"{p[:2]} {p[2:6]} {p[6:]}",
                  f"{p[:3]} {p[3:6]} {p[6:8]} {p[8:]}", "+33 " + p[1:4] + " " + p[4:7] + " " + p[7:]]
    return rng.choice(forms)


def _nir_form(rng, n: str) -> str:
    parts = [n[0], n[1:3], n[3:5], n[5:7], n[7:10], n[10:13], n[13:]]
    return rng.choice([" ".join(parts), n, "-".join(parts), " ".join(parts[:-1]) + " clé " + parts[-1],
                       n[:13] + " " + n[13:], " ".join(parts[:-1]) + " / " + parts[-1]])


def _ipp_form(rng, i: str) -> str:
    return rng.choice([i, f"{i[:4]} {i[4:]}", f"{i[:2]} {i[2:5]} {i[5:]}", f"{i[:3]}-{i[3:6]}-{i[6:]}", i])


def _email_form(rng, local: str, domain: str) -> str:
    host, tld = domain.rsplit(".", 1)
    return rng.choice([f"{local}@{domain}", f"{local}(at){domain}", f"{local} [at] {domain}",
                       f"{local} arobase {domain}", f"{local}[at]{host}[dot]{tld}", f"{local} (arobase) {domain}",
                       f"{local} AT {host} point {tld}", f"{local.upper()}@{domain.upper()}"])


def _parts(name: str) -> list[str]:
    return [p for p in re.split(r"[\s\-]+", name) if p]


def render_slot(slot: str, w: World) -> list[Seg]:
    r = w.rng
    decl_rel = w.rel_declared
    if slot == "P_FULL":
        f, last = w.first, w.last
        form = r.choice([f"{f} {last}", f"{f} {last.upper()}", f"{last.upper()} {f}", f"{last} {f}",
                         f"{f[0]}. {last}", f"{f.lower()} {last.lower()}"])
        return [(form, "NOM", "full", True)]
    if slot == "P_LAST":
        return [(_case(r, w.last, lower_ok=True), "NOM", "last", True)]
    if slot == "P_FIRST":
        return [(_case(r, w.first, lower_ok=True) if r.random() < 0.7 else w.first.lower(), "NOM", "first", True)]
    if slot == "P_PART":  # a part of a compound first name or surname, else the surname
        comp = [n for n in (w.first, w.last) if len(_parts(n)) > 1]
        if not comp:
            return [(_case(r, w.last), "NOM", "last", True)]
        return [(_case(r, r.choice(_parts(r.choice(comp)))), "NOM", "part", True)]
    if slot == "REL":
        return [(f"{w.rel_first} {_case(r, w.rel_last)}", "NOM", "full", decl_rel)]
    if slot == "REL_FIRST":
        return [(_case(r, w.rel_first, lower_ok=True), "NOM", "first", decl_rel)]
    if slot == "REL_REL":
        return [(w.rel_relation, None, None, None)]
    if slot == "NEIGH":
        return [(_case(r, w.neigh_last), "NOM", "last", False)]
    if slot == "STAFF_FIRST":
        return [(w.staff_first, "NOM", "first", False)]
    if slot == "STAFF_LAST":
        return [(_case(r, w.staff_last), "NOM", "last", False)]
    if slot == "STAFF_FULL":
        return [(r.choice([f"{w.staff_first} {w.staff_last}", f"{w.staff_first} {w.staff_last.upper()}",
                           f"{w.staff_first[0]}. {w.staff_last}"]), "NOM", "full", False)]
    if slot == "GP":
        return [(r.choice([f"{w.gp_first} {w.gp_last.upper()}", w.gp_last, f"{w.gp_first[0]}. {w.gp_last}",
                           w.gp_last.upper()]), "NOM", "full", True)]
    if slot == "NE":
        return [("né" if w.sex == "M" else "née", None, None, None)]
    if slot == "IL":
        return [("il" if w.sex == "M" else "elle", None, None, None)]
    if slot == "DOB":
        return [(_date_form(r, w.birth), "DATE", None, True)]
    if slot == "DOB_WORDS":
        return [(_date_form(r, w.birth, words=True), "DATE", None, True)]
    if slot == "DATE":
        return [(_date_form(r, w.event), "DATE", None, False)]
    if slot == "DATE_WORDS":
        return [(_date_form(r, w.event, words=True), "DATE", None, False)]
    if slot == "DATE_DM":
        return [(f"{w.event.day:02d}/{w.event.month:02d}", "DATE", None, False)]
    if slot == "P_PHONE":
        return [(_phone_form(r, w.phone, odd=False), "TEL", None, True)]
    if slot == "PHONE":
        return [(_phone_form(r, w.other_phone, odd=True), "TEL", None, False)]
    if slot == "NIR":
        return [(_nir_form(r, w.nir), "NIR", None, True)]
    if slot == "IPP":
        return [(_ipp_form(r, w.ipp), "IPP", None, True)]
    if slot == "EMAIL":
        return [(_email_form(r, w.email_local, w.email_domain), "EMAIL", None, True)]
    if slot == "EMAIL2":
        local = _fold_ascii(f"{w.rel_first}.{w.rel_last}".lower()).replace(" ", "")
        return [(_email_form(r, local, r.choice(w.pool["mail"])), "EMAIL", None, False)]
    if slot == "HOSP":
        return [(w.hospital, "HOPITAL", None, False)]
    if slot == "ADDR":
        city = _case(r, w.city)
        sep = r.choice([", ", " ", " - ", ", "])
        return [(f"{w.street}{sep}{w.postcode} {city}", "ADRESSE", None, True)]
    if slot == "STREET":
        return [(w.street, "ADRESSE", None, True)]
    if slot == "CITY":
        return [(w.city, "ADRESSE", None, True)]
    if slot == "HAMLET":
        return [(r.choice(w.pool["hamlets"]), "ADRESSE", None, False)]
    if slot == "OTHER_ADDR":
        pc, city = w.other_city
        return [(f"{w.other_street}, {pc} {city}", "ADRESSE", None, False)]
    raise KeyError(slot)


TEMPLATES = {
    "dev": [
        "Patient : {P_FULL}, {NE} le {DOB}. IPP {IPP}. Adressé par le Dr {GP} pour bilan de chute.",
        "Appel de {REL} ({REL_REL}) au {PHONE} : {P_FIRST} a passé une mauvaise nuit, EVA 4/10 au réveil.",
        "Mme {NEIGH}, voisine, a trouvé le patient au sol à 7 h. Domicile : {ADDR}.",
        "{P_FIRST} refuse la toilette ce matin ; vu avec l'IDE {STAFF_FIRST}. TA 13/8, pouls 82, SpO2 96 %.",
        "Sortie prévue le {DATE} vers l'{HOSP} (SSR). Transport organisé par son fils {REL_FIRST}.",
        "Ancien commerçant (boulangerie {P_LAST} jusqu'en 2015). Tabac sevré, 30 PA. Petit appétit.",
        "Contact : {EMAIL} ou {P_PHONE}. Personne de confiance : {REL}.",
        "NIR {NIR}, mutuelle à jour. Date de naissance déclarée : {DOB_WORDS}.",
        "Vu ce jour {P_FULL}, accompagné par {REL}. Pas de signe de Babinski, pas de syndrome parkinsonien.",
        "Transmissions de nuit (IDE {STAFF_FULL}) : {P_LAST} agité vers 3 h, Glasgow 15, pas de chute.",
        "Antécédents : PTH droite en 2012 à la {HOSP}. Suivi par le Dr {STAFF_LAST} (rhumatologue).",
        "Courrier du Dr {GP} du {DATE} : Kardegic 75 mg, bisoprolol 2,5 mg, furosémide 40 mg le matin.",
        "Vit seul à {CITY}, au {HAMLET}, sans ascenseur ni voisin proche. Passage IDE matin et soir.",
        "Joindre sa nièce {REL} au {PHONE} ou par courriel : {EMAIL2}.",
        "M. {P_PART} signale des vertiges depuis le {DATE_DM}. Maladie de Ménière évoquée, audiogramme demandé.",
        "Identité : {P_LAST}, {P_FIRST} — {NE} le {DOB} — IPP : {IPP} — tél. {P_PHONE}.",
        "Madame {NEIGH} (voisine de palier) passe tous les jours ; la fille, {REL_FIRST}, vient le week-end.",
        "Hospitalisé au {HOSP} du {DATE} pour pneumopathie ; retour à domicile, {ADDR}.",
        "Le {DATE}, appel du secrétariat du Dr {STAFF_LAST} : RDV d'IRM décalé. Rappeler le {PHONE}.",
        "Dr {GP}, médecin traitant, informé. Le patient ({P_FULL}) souhaite rentrer chez lui.",
        "Adresse de facturation : {OTHER_ADDR} (chez sa fille {REL_FIRST}).",
        "Synthèse sociale : {P_FIRST} {P_LAST}, {NE} le {DOB}, veuf depuis 2019, APA en cours.",
        "Message laissé sur le répondeur au {P_PHONE} ; pas de rappel. Mail envoyé à {EMAIL}.",
        "Intervention au {HOSP} le {DATE} (Pr {STAFF_LAST}) : cholécystectomie cœlioscopique sans incident.",
        "Mme {STAFF_FULL}, assistante sociale, a rencontré la famille ; l'épouse ({REL_FIRST}) est épuisée.",
        "{NE} le {DOB_WORDS} à {CITY}, le patient se présente seul aux urgences pour douleur thoracique.",
        "Carte vitale : {NIR}. Assurance maladie à jour. IPP {IPP}.",
        "Visite à domicile, {STREET}, {CITY} : logement encombré, chat, pas de détecteur de fumée.",
        "Allergie à la pénicilline. {P_LAST} dit que son frère, {REL}, a eu la même réaction.",
        "RCP du {DATE} : dossier de {P_FULL} présenté par le Dr {STAFF_LAST} ; chimiothérapie FOLFOX proposée.",
    ],
    "test": [
        "Mme {STAFF_LAST}, IDE, note que {P_FIRST} n'a pas mangé ce midi. Glycémie 1,8 g/L, insuline 4 UI.",
        "{P_FULL} ({NE} le {DOB}), IPP n° {IPP}, entre pour AEG. Vit à {CITY} avec son épouse.",
        "Appeler le fils, {REL}, au {PHONE} avant toute sortie.",
        "Courriel de la famille reçu depuis {EMAIL2} ; répondu par le cadre de santé.",
        "Le patient habite au {HAMLET}, à 12 km de {CITY}, accès difficile l'hiver.",
        "Date de naissance : {DOB_WORDS}. Numéro de sécurité sociale : {NIR}.",
        "Transfert vers la {HOSP} le {DATE} ; dossier transmis au Dr {STAFF_LAST}.",
        "Revu par l'interne {STAFF_FULL}. Score de Glasgow 14, pupilles symétriques, EVA 6/10.",
        "Monsieur {P_PART} se plaint de douleurs lombaires ; Lasègue négatif à droite.",
        "Tél. patient : {P_PHONE}. Tél. voisin (M. {NEIGH}) : {PHONE}.",
        "Adresse : {ADDR}. Pas de changement depuis la dernière venue.",
        "{P_LAST} {P_FIRST}, consultation du {DATE} : HbA1c 7,9 %, poids 84 kg, TA 14/9.",
        "Son épouse {REL_FIRST} l'accompagne ; elle signale des oublis depuis l'été. MMS 22/30.",
        "Suivi antérieur au {HOSP} pour une maladie d'Alzheimer débutante ; donépézil arrêté en 2021.",
        "Courrier adressé au Dr {GP}, médecin traitant, et à l'{HOSP}.",
        "Joignable par mail ({EMAIL}) ou au {P_PHONE} après 18 h.",
        "Vu avec {P_FIRST} et sa sœur {REL} : accord pour l'entrée en EHPAD le {DATE}.",
        "La voisine, Mme {NEIGH}, a prévenu les pompiers le {DATE_DM} au soir.",
        "Chute au domicile ({STREET}, {CITY}) ; relevé par son fils {REL_FIRST} au bout de 2 h.",
        "Hospitalisation antérieure : {HOSP}, du {DATE} au lendemain, pour malaise vagal.",
        "Fiche administrative : {P_FULL} — {DOB} — NIR {NIR} — IPP {IPP}.",
        "Pansement refait par {STAFF_FIRST} (IDE) ; plaie propre, pas de signe de Kernig ni fièvre.",
        "Le frère ({REL}) réside {OTHER_ADDR} et peut héberger le patient.",
        "Contacté par téléphone au {P_PHONE} le {DATE} : résultat de la biopsie annoncé.",
        "{P_FIRST} {P_LAST}, {NE} le {DOB_WORDS}, ancien agriculteur, vit au {HAMLET}.",
        "Avis du Pr {STAFF_LAST} (neurologie) : pas de maladie de Parkinson, tremblement essentiel.",
        "Anesthésiste : Dr {STAFF_FULL}. Patient ({P_LAST}) à jeun depuis minuit, ASA 2.",
        "Rappel demandé par la fille au {PHONE}, poste 214, ou par mail {EMAIL2}.",
        "Épouse décédée en 2018. {P_FIRST} vit seul, aide-ménagère 3 fois par semaine, portage des repas.",
        "Bilan au {HOSP} : scanner du {DATE_DM} sans lésion ; prochain contrôle dans 6 mois.",
    ],
}

_SLOT = re.compile(r"\{([A-Z_0-9]+)\}")


def instantiate(template: str, w: World) -> tuple[str, list[dict]]:
    text, spans, pos = [], [], 0
    length = 0
    for m in _SLOT.finditer(template):
        lit = template[pos:m.start()]
        text.append(lit)
        length += len(lit)
        for seg, cat, kind, declared in render_slot(m.group(1), w):
            if cat:
                spans.append({"start": length, "end": length + len(seg), "category": cat,
                              "declared": bool(declared), **({"kind": kind} if kind else {})})
            text.append(seg)
            length += len(seg)
        pos = m.end()
    text.append(template[pos:])
    out = "".join(text)
    # a sentence may start with a lower-case slot: capitalise its first letter (offsets unchanged)
    return out[:1].upper() + out[1:], spans


def build(split: str) -> list[dict]:
    rng = random.Random(f"{SEED}-{split}")
    rows = []
    for ti, template in enumerate(TEMPLATES[split]):
        for k in range(PER_TEMPLATE):
            w = make_world(rng, POOLS[split])
            sid = f"{split}-{ti:02d}-{k}"
            text, spans = instantiate(template, w)
            rows.append({"id": sid, "split": split, "template": ti, "text": text, "patient": w.patient(sid),
                         "spans": spans})
    return rows


def main() -> None:
    for split in ("dev", "test"):
        rows = build(split)
        with open(HERE / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(split, len(rows), "snippets", sum(len(r["spans"]) for r in rows), "spans")


if __name__ == "__main__":
    main()
