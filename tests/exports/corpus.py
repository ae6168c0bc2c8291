"""Shared pieces of the corpus generator: phone number pools, formats, the careful reader of
a phone cell (the oracle the expectations come from), people, and the expectation rows.

Nothing here is used by the importer or its tests at run time: `generate.py` writes the
exports and their `.expected.csv` files once, and they are committed. Python's
`phonenumbers` (Google's libphonenumber) checks every expected E.164 here.
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Callable

import phonenumbers as pn

# ---------------------------------------------------------------------------------------
# Number pools: fictional or drama ranges where they exist, each number checked valid.
# ---------------------------------------------------------------------------------------

POOLS: dict[str, dict[str, list[tuple[str, int, int]]]] = {
    "US": {
        "fixed": [
            ("+1650253{:04d}", 1000, 1999),
            ("+1212555{:04d}", 100, 199),
            ("+1312555{:04d}", 100, 199),
            ("+1617555{:04d}", 100, 199),
            ("+1206555{:04d}", 100, 199),
            ("+1415555{:04d}", 100, 199),
        ],
        "mobile": [("+1303555{:04d}", 100, 199), ("+1650253{:04d}", 2000, 2999)],
    },
    "CA": {"fixed": [("+1416555{:04d}", 100, 199)], "mobile": [("+1604555{:04d}", 100, 199)]},
    "GB": {
        "fixed": [("+44207946{:04d}", 0, 999), ("+44161496{:04d}", 0, 999), ("+44117496{:04d}", 0, 999)],
        "mobile": [("+447400{:06d}", 123000, 123999), ("+447700{:06d}", 100000, 100999)],
    },
    "DE": {
        "fixed": [("+4930{:07d}", 1234000, 1234999), ("+4989{:07d}", 1234000, 1234999), ("+4940{:08d}", 12345000, 12345999)],
        "mobile": [("+49151{:08d}", 12345000, 12345999), ("+49170{:07d}", 1234000, 1234999)],
    },
    "AT": {"fixed": [("+431{:07d}", 2345000, 2345999)], "mobile": [("+43664{:07d}", 1234000, 1234999)]},
    "CH": {"fixed": [("+4144{:07d}", 1234500, 1234999)], "mobile": [("+4179{:07d}", 1234500, 1234999)]},
    "FR": {
        "fixed": [("+3314268{:04d}", 5300, 5999), ("+3347210{:04d}", 3000, 3999)],
        "mobile": [("+33612345{:03d}", 600, 999), ("+33781234{:03d}", 500, 999)],
    },
    "BE": {"fixed": [("+322555{:04d}", 1200, 1299)], "mobile": [("+32470{:06d}", 123400, 123499)]},
    "ES": {
        "fixed": [("+34912345{:03d}", 600, 699), ("+34931234{:03d}", 500, 599)],
        "mobile": [("+34612345{:03d}", 600, 699), ("+34654321{:03d}", 900, 999)],
    },
    "MX": {"fixed": [("+525512345{:03d}", 600, 699)], "mobile": [("+528112345{:03d}", 600, 699)]},
    "AR": {"fixed": [("+541143{:06d}", 123400, 123499)], "mobile": [("+54911{:08d}", 12345600, 12345699)]},
    "CO": {"fixed": [("+57601{:07d}", 2345600, 2345699)], "mobile": [("+57301234{:04d}", 5600, 5699)]},
    "IT": {
        "fixed": [("+3902{:08d}", 12345600, 12345699), ("+3906{:08d}", 12345600, 12345699)],
        "mobile": [("+39333{:07d}", 1234500, 1234599), ("+39347{:07d}", 1234500, 1234599)],
    },
    "NL": {
        "fixed": [("+3120{:07d}", 1234500, 1234599), ("+3110{:07d}", 1234500, 1234599)],
        "mobile": [("+316{:08d}", 12345600, 12345699)],
    },
    "IN": {
        "fixed": [("+9122{:08d}", 23456700, 23456799), ("+9180{:08d}", 45678900, 45678999)],
        "mobile": [("+9198765{:05d}", 43200, 43299), ("+9170123{:05d}", 56700, 56799)],
    },
    "AU": {"fixed": [("+61293744{:03d}", 100, 199)], "mobile": [("+61412345{:03d}", 600, 699)]},
    "AE": {"fixed": [("+97142345{:03d}", 600, 699)], "mobile": [("+97150123{:04d}", 4500, 4599)]},
    "BR": {"fixed": [("+551131234{:03d}", 500, 599)], "mobile": [("+5511912345{:03d}", 600, 699)]},
    "PT": {"fixed": [("+35121123{:04d}", 4500, 4599)], "mobile": [("+351912345{:03d}", 600, 699)]},
    # Holdout set (holdout.py).
    "PL": {"fixed": [("+4822123{:04d}", 4500, 4599), ("+4812345{:04d}", 6700, 6799)],
           "mobile": [("+48512345{:03d}", 600, 699), ("+48601234{:03d}", 500, 599)]},
    "SE": {"fixed": [("+46812345{:03d}", 600, 699), ("+46311234{:03d}", 500, 599)],
           "mobile": [("+46701234{:03d}", 500, 599), ("+46731234{:03d}", 500, 599)]},
}


class Numbers:
    """Hands out distinct valid numbers from the pools, deterministically."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def take(self, region: str, kind: str = "fixed") -> str:
        templates = POOLS[region][kind]
        for _ in range(1000):
            template, lo, hi = self.rng.choice(templates)
            e164 = template.format(self.rng.randint(lo, hi))
            if e164 in self.used:
                continue
            number = pn.parse(e164)
            assert pn.is_valid_number(number), f"pool number {e164} is not valid"
            assert pn.region_code_for_number(number) == region, f"{e164} is not in {region}"
            self.used.add(e164)
            return e164
        raise RuntimeError(f"pool {region}/{kind} exhausted")


# ---------------------------------------------------------------------------------------
# How people write a number.
# ---------------------------------------------------------------------------------------


def fmt(e164: str, style: str) -> str:
    """`e164` written the way `style` names (every style keeps all the digits)."""
    n = pn.parse(e164)
    intl = pn.format_number(n, pn.PhoneNumberFormat.INTERNATIONAL)
    national = pn.format_number(n, pn.PhoneNumberFormat.NATIONAL)
    nsn = pn.national_significant_number(n)
    cc = str(n.country_code)
    if style == "intl":
        return intl
    if style == "e164":
        return e164
    if style == "national":
        return national
    if style == "compact_national":
        return re.sub(r"[\s\-().]", "", national)
    if style == "us_dash":
        return f"{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}"
    if style == "us_dots":
        return f"{nsn[:3]}.{nsn[3:6]}.{nsn[6:]}"
    if style == "us_plain":
        return nsn
    if style == "us_1dash":
        return f"1-{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}"
    if style == "us_intl_paren":
        return f"+1 ({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}"
    if style == "paren0":
        return intl.replace(f"+{cc} ", f"+{cc} (0)", 1)
    if style == "idd00":
        return "00" + intl[1:]
    if style == "digits_cc":
        return e164[1:]
    if style == "nozero":
        return nsn
    if style == "slash":
        return national.replace(" ", "/", 1)
    if style == "dots":
        return national.replace(" ", ".")
    if style == "dash":
        head, _, tail = national.partition(" ")
        return head + "-" + tail.replace(" ", "")
    if style == "cc_dash":
        return f"+{cc}-{nsn}"
    if style == "paren_area":
        head, _, tail = national.partition(" ")
        return f"({head}) {tail}"
    if style == "outlook":
        # Outlook's canonical form: "+49 (30) 1234567", "+1 (650) 253-0000".
        rest = intl[len(cc) + 2 :]
        head, _, tail = rest.replace("-", " ", 1).partition(" ")
        return f"+{cc} ({head}) {tail}"
    if style == "be_slash":
        # Belgian habit: "02/555.12.34", "0470/12.34.56".
        head, _, tail = national.partition(" ")
        return head + "/" + tail.replace(" ", ".")
    if style == "intl_compact_groups":
        # "+49 30 1234567" → "+49 301234567": the area code run into the number.
        return f"+{cc} {nsn}"
    raise ValueError(style)


# ---------------------------------------------------------------------------------------
# The careful reader: what a person deciding by hand takes from one phone cell.
# ---------------------------------------------------------------------------------------

PLACEHOLDERS = {
    "n/a", "na", "n.a.", "-", "--", "—", "–", "tbd", "0", "none", "null", "unknown", "?",
    "k.a.", "k. a.", "keine", "néant", "neant", "n/d", "nd", "no tiene", "sin teléfono",
    "nessuno", "n.v.", "n.v.t.", "onbekend", "geen", "s/n",
    # Holdout set: Portuguese and Polish.
    "não tem", "nao tem", "sem telefone", "brak", "nie ma", "saknas", "finns ej",
}

EXTENSION = re.compile(
    r"\s*,?\s*\(?\s*(?:x|ext\.?|extension|poste|p\.|durchwahl|dw\.?|int\.|interno|toestel|tst\.|#|ramal|wewn\.)"
    r"\s*\d{1,6}\s*\)?\s*$",
    re.IGNORECASE,
)
MULTI = re.compile(r"\s*(?::::|,|;|\s/\s)\s*")
EXCEL_SCIENTIFIC = re.compile(r"^\d[.,]\d+E\+\d+$", re.IGNORECASE)


@dataclasses.dataclass
class Cell:
    """A phone cell as a careful person reads it: nothing there, a valid number, or junk."""

    state: str  # "none" | "ok" | "bad"
    e164: str | None = None
    why: str = ""


def read_cell(text: object, region: str | None) -> Cell:
    """Reads one phone cell in `region` (None: only numbers with +CC can be read)."""
    if text is None:
        return Cell("none")
    if isinstance(text, (int, float)):
        # A spreadsheet number: its full digits.
        text = str(int(text))
    s = str(text).strip()
    # A leading apostrophe is the spreadsheet's "this is text" mark (Apollo writes one
    # before every phone so that Excel keeps the `+`): not part of the number.
    if s.startswith("'"):
        s = s[1:].strip()
    if not s:
        return Cell("none")
    if s.lower() in PLACEHOLDERS:
        return Cell("none", why=f"placeholder `{s}`")
    if EXCEL_SCIENTIFIC.match(s):
        return Cell("bad", why="Excel scientific notation: digits lost")
    first = MULTI.split(s)[0]
    first = EXTENSION.sub("", first).strip()
    if re.search(r"[A-Za-z]", first):
        return Cell("bad", why="letters in the number")
    digits = re.sub(r"\D", "", first)
    # Digits only, no trunk 0, starting with the region's country code: a number Excel or a
    # CRM stored with its country code and without the `+` (issue #12's 4915112345678).
    if region and re.fullmatch(r"[1-9]\d+", first):
        cc = str(pn.country_code_for_region(region))
        if digits.startswith(cc):
            try:
                n = pn.parse("+" + digits)
                if pn.is_valid_number(n):
                    return Cell("ok", pn.format_number(n, pn.PhoneNumberFormat.E164))
            except pn.NumberParseException:
                pass
    try:
        n = pn.parse(first, region)
    except pn.NumberParseException as e:
        return Cell("bad", why=f"not a number ({e})")
    if not pn.is_valid_number(n):
        return Cell("bad", why="not a valid number")
    return Cell("ok", pn.format_number(n, pn.PhoneNumberFormat.E164))


# ---------------------------------------------------------------------------------------
# People.
# ---------------------------------------------------------------------------------------

NAMES = {
    "en": (
        ["James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "Sarah", "Daniel",
         "Emily", "Kevin", "Laura", "Brian", "Megan", "Jason", "Rachel", "Eric", "Olivia", "Tyler", "Grace",
         "Noah", "Chloe", "Ethan", "Hannah", "Owen", "Zoe", "Liam", "Amelia", "Lucas"],
        ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
         "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
         "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "O'Brien"],
    ),
    "gb": (
        ["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Jack", "Emily", "Charlie", "Sophie", "Thomas",
         "Lily", "Alfie", "Freya", "William", "Poppy", "Joshua", "Evie", "James", "Ruby"],
        ["Hughes", "Evans", "Roberts", "Wood", "Edwards", "Thompson", "Wright", "Walker", "Green", "Hall",
         "Clarke", "Patel", "Turner", "Cooper", "Ward", "Morris", "Price", "Bennett", "Shaw", "Lloyd"],
    ),
    "de": (
        ["Jürgen", "Sabine", "Stefan", "Petra", "Thomas", "Anja", "Matthias", "Katrin", "Michael", "Claudia",
         "Jörg", "Birgit", "Uwe", "Monika", "Tobias", "Jana", "Lukas", "Lea", "Felix", "Sören"],
        ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
         "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Braun", "Günther"],
    ),
    "fr": (
        ["Jean", "Marie", "Pierre", "Nathalie", "François", "Isabelle", "Hélène", "Stéphane", "Céline", "Jérôme",
         "Sébastien", "Aurélie", "Frédéric", "Élodie", "Benoît", "Amélie", "Cédric", "Mélanie", "Loïc", "Anaïs"],
        ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
         "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Fournier", "Rousseau", "Girard", "Bonnet", "Lemaître"],
    ),
    "es": (
        ["José", "María", "Antonio", "Carmen", "Manuel", "Lucía", "Javier", "Ana", "Jesús", "Isabel", "Álvaro",
         "Sofía", "Ramón", "Begoña", "Iñaki", "Pilar", "Andrés", "Marta", "Raúl", "Nuria"],
        ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
         "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Ibáñez",
         "Castaño"],
    ),
    "it": (
        ["Giuseppe", "Maria", "Giovanni", "Anna", "Luca", "Francesca", "Marco", "Chiara", "Andrea", "Giulia",
         "Niccolò", "Federica", "Matteo", "Elena", "Lorenzo", "Sara"],
        ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
         "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa"],
    ),
    "nl": (
        ["Jan", "Anne", "Pieter", "Sanne", "Daan", "Femke", "Bram", "Lotte", "Thijs", "Eva", "Joost", "Maaike",
         "Sem", "Iris", "Ruben", "Noor"],
        ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
         "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters"],
    ),
    "in": (
        ["Aarav", "Priya", "Rahul", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya", "Rohan", "Divya", "Sanjay",
         "Pooja", "Amit", "Neha", "Karthik", "Lakshmi"],
        ["Sharma", "Patel", "Reddy", "Iyer", "Gupta", "Nair", "Singh", "Kumar", "Mehta", "Rao", "Joshi",
         "Menon", "Desai", "Chopra", "Bose", "Pillai"],
    ),
    "pt": (
        ["João", "Ana", "Pedro", "Mariana", "Tiago", "Beatriz", "Rui", "Inês", "Gonçalo", "Joana"],
        ["Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins", "Sousa", "Gonçalves"],
    ),
    "br": (
        ["João", "Ana", "Lucas", "Mariana", "Gabriel", "Beatriz", "Rafael", "Larissa", "Thiago", "Juliana",
         "Felipe", "Camila", "Bruno", "Letícia", "Rodrigo", "Fernanda"],
        ["Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Ferreira", "Almeida", "Costa", "Carvalho",
         "Gomes", "Ribeiro", "Araújo", "Barbosa", "Conceição", "Magalhães"],
    ),
    "sv": (
        ["Erik", "Anna", "Lars", "Karin", "Johan", "Eva", "Anders", "Maria", "Björn", "Åsa", "Mikael", "Linnéa"],
        ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
         "Svensson", "Gustafsson", "Lindström", "Åberg"],
    ),
    "pl": (
        ["Łukasz", "Anna", "Piotr", "Małgorzata", "Krzysztof", "Agnieszka", "Paweł", "Katarzyna", "Michał",
         "Joanna", "Tomasz", "Ewa", "Grzegorz", "Żaneta", "Wojciech", "Zofia"],
        ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
         "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Krawczyk", "Piątek"],
    ),
}

COMPANIES = {
    "en": ["Acme Corp", "Globex", "Initech", "Umbrella Health", "Stark Logistics", "Wayne Foods", "Hooli",
           "Vandelay Industries", "Soylent Inc.", "Cyberdyne Systems", "Pied Piper", "Dunder Mifflin"],
    "gb": ["Brightwater Ltd", "Kestrel Partners", "Thames Digital", "Oakleaf Consulting", "Harbour & Co",
           "Penrose Analytics", "Blackfriars Legal", "Northgate Retail"],
    "de": ["Müller & Söhne GmbH", "Bergmann AG", "Rheinwerk GmbH", "Schäfer Logistik", "Nordlicht Software",
           "Alpenblick Hotels", "Weißbräu KG", "Hansa Maschinenbau"],
    "fr": ["Boulangerie Dupré", "Société Générale d'Études", "Atelier Lumière", "Vins & Terroirs SARL",
           "Cabinet Lefèvre", "Éditions du Rivage", "Groupe Hélios", "Menuiserie Roux"],
    "es": ["Construcciones Ibáñez S.L.", "Talleres Núñez", "Grupo Peñalara", "Distribuciones Cádiz",
           "Bodegas Olmedo", "Consultoría Añil", "Transportes Muñoz S.A."],
    "it": ["Ferramenta Rossi", "Studio Bianchi & Associati", "Officine Colombo", "Pasticceria Greco",
           "Trasporti Ricci S.r.l.", "Vetreria Conti"],
    "nl": ["Bakker Bouw B.V.", "Van Dijk Transport", "De Groot Advies", "Mulder ICT", "Visser & Zn.",
           "Smit Installatietechniek"],
    "in": ["Infosys Ltd", "Sundaram Traders", "Reliance Retail", "Tata Elxsi", "Kumar Textiles",
           "Bharat Agro Exports", "Zenith Software Pvt Ltd"],
    "pt": ["Construtora Silva", "Padaria Costa", "Transportes Ferreira Lda"],
    "br": ["Construtora Andrade Ltda", "Padaria Pão Quente", "Transportes Rápido Sul", "Agropecuária Boa Vista",
           "Tecnologia Íris S.A.", "Comércio de Peças Irmãos Lima"],
    "sv": ["Bygg & Måleri AB", "Nordström Logistik AB", "Älvdalens Trä AB", "Söderberg Konsult",
           "Göteborgs Verkstad AB"],
    "pl": ["Budimex-Łódź Sp. z o.o.", "Piekarnia Żytnia", "Przewozy Wiśniewski", "Stocznia Gdańska S.A.",
           "Zakład Mechaniczny Kowalczyk", "Księgarnia Świat"],
}

DOMAINS = {"en": "com", "gb": "co.uk", "de": "de", "fr": "fr", "es": "es", "it": "it", "nl": "nl", "in": "in", "pt": "pt", "br": "com.br", "pl": "pl", "sv": "se"}


def ascii_fold(s: str) -> str:
    table = str.maketrans("äöüßáàâãéèêëíìîïóòôõúùûçñÄÖÜÁÉÍÓÚÇÑ'łŁńśźżąęćŻŚŹĆ",
                          "aousaaaaeeeeiiiioooouuucnAOUAEIOUCN lLnszzaecZSZC")
    s = s.replace("å", "a").replace("Å", "A")
    return s.translate(table)


@dataclasses.dataclass
class Person:
    first: str
    last: str
    company: str
    email: str
    locale: str


class People:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.emails: set[str] = set()

    def make(self, locale: str) -> Person:
        firsts, lasts = NAMES[locale]
        for _ in range(1000):
            first, last = self.rng.choice(firsts), self.rng.choice(lasts)
            company = self.rng.choice(COMPANIES[locale])
            domain = re.sub(r"[^a-z]", "", ascii_fold(company.split()[0].lower())) + "." + DOMAINS[locale]
            local = re.sub(r"[^a-z.]", "", ascii_fold(f"{first}.{last}".lower().replace(" ", "")))
            email = f"{local}@{domain}"
            if email not in self.emails:
                self.emails.add(email)
                return Person(first, last, company, email, locale)
        raise RuntimeError("names exhausted")


# ---------------------------------------------------------------------------------------
# Expectations.
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Expect:
    """One line of `<file>.expected.csv`."""

    line: int
    row: int | None
    outcome: str  # import | reject | skip
    e164: str = ""  # for import; `a|b` when either number is right
    lead_id: str = ""
    klass: str = ""  # reject: error class; skip: what the line is
    key: str = ""
    note: str = ""

    def as_list(self) -> list[str]:
        return [str(self.line), "" if self.row is None else str(self.row), self.outcome, self.e164,
                self.lead_id, self.klass, self.key, self.note]


EXPECT_HEADER = ["line", "row", "outcome", "e164", "lead_id", "class", "key", "note"]


@dataclasses.dataclass
class Row:
    """A data row being built: its cells, and what a careful person decides about it."""

    cells: dict[str, object]
    phones: list[str]  # phone columns, in the order a careful person tries them
    region: str | None  # where a national number is read (country column or file default)
    lead_id: str = ""
    key: str = ""
    note: str = ""
    either: bool = False  # any valid phone of the row is right (generic `Phone N` columns)
    # What the scenario meant (checked against the careful reader below):
    intent: tuple[str, str] = ("", "")
    outcome: str = ""
    e164: str = ""
    klass: str = ""


def decide(row: Row) -> None:
    """What a careful person does with the row (before the duplicate check)."""
    seen_bad = []
    oks = []
    for col in row.phones:
        cell = read_cell(row.cells.get(col), row.region)
        if cell.state == "ok":
            oks.append((col, cell.e164))
        elif cell.state == "bad":
            seen_bad.append(f"{col}: {cell.why}")
    if oks:
        row.outcome, row.e164 = "import", oks[0][1]
        if row.either:
            alts = [e for _, e in oks[1:] if e != oks[0][1]]
            if alts:
                row.e164 = "|".join([oks[0][1], *alts])
        if oks[0][0] != row.phones[0]:
            taken = f"phone from `{oks[0][0]}`"
            row.note = f"{row.note}; {taken}" if row.note else taken
    elif seen_bad:
        row.outcome, row.klass = "reject", "invalid_phone"
    else:
        row.outcome, row.klass = "reject", "missing_phone"
    want_outcome, want = row.intent
    got = row.e164.split("|")[0] if row.outcome == "import" else row.klass
    assert (want_outcome, want) == (row.outcome, got), (
        f"scenario meant {row.intent}, careful reader says {(row.outcome, got)}: {row.cells}"
    )


def dedupe(rows: list[Row]) -> None:
    """The first row wins; a later one with the same id or the same phone is a duplicate."""
    ids: dict[str, int] = {}
    phones: dict[str, int] = {}
    for i, row in enumerate(rows, start=1):
        if row.outcome != "import":
            continue
        phone = row.e164.split("|")[0]
        first = ids.get(row.lead_id) if row.lead_id else None
        why = "same id"
        if first is None:
            first, why = phones.get(phone), "same phone"
        if first is not None:
            row.outcome, row.klass = "reject", "duplicate_in_file"
            note = f"{why} as data row {first}"
            row.note = f"{row.note}; {note}" if row.note else note
            row.e164 = ""
            continue
        if row.lead_id:
            ids[row.lead_id] = i
        for e in row.e164.split("|"):
            phones.setdefault(e, i)


Scenario = Callable[..., None]
