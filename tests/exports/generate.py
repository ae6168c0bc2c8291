#!/usr/bin/env python3
"""Writes the export corpus of `tests/exports/`: one file per product or locale, each row's
expected outcome beside it (`<file>.expected.csv`), and `manifest.toml`.

    pip install phonenumbers openpyxl   # test tooling only, never a runtime dependency
    python3 tests/exports/generate.py

Deterministic (fixed seeds): running it again rewrites the same bytes. Where each format
comes from is in README.md. The expectations are decided twice and must agree: each row is
built from a scenario that says what a careful person would do ("a national number with an
extension: import the number"), and `corpus.read_cell` (placeholders, extensions,
multi-values, then Google's libphonenumber through `phonenumbers`) must reach the same
E.164 from the cell as written, or the generator stops.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import pathlib
import random
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import phonenumbers as pn  # noqa: E402

from corpus import (  # noqa: E402
    EXPECT_HEADER,
    Expect,
    Numbers,
    People,
    Person,
    Row,
    decide,
    dedupe,
    fmt,
    read_cell,
)

HERE = pathlib.Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------
# Scenarios: how one contact's phone cells look, and what a careful person does with them.
# ---------------------------------------------------------------------------------------

NATIONAL_STYLES = {
    "US": ["national", "national", "national", "us_dash", "us_dots", "us_plain", "us_1dash"],
    "CA": ["national", "us_dash"],
    "GB": ["national", "national", "compact_national"],
    "DE": ["national", "national", "slash", "compact_national", "paren_area"],
    "AT": ["national", "slash"],
    "CH": ["national"],
    "FR": ["national", "national", "national", "dots", "compact_national"],
    "BE": ["national"],
    "ES": ["national", "national", "compact_national"],
    "MX": ["national"],
    "IT": ["national", "national", "compact_national"],
    "NL": ["national", "dash", "dash"],
    "IN": ["national", "us_plain"],
    "AU": ["national"],
    "AE": ["national"],
    "PT": ["national"],
    "BR": ["national"],
    "PL": ["national", "compact_national"],
}
# Regions whose national numbers start with a trunk 0 that `+CC (0)` notation keeps.
TRUNK_ZERO = {"GB", "DE", "AT", "CH", "FR", "BE", "NL", "AU"}


@dataclasses.dataclass
class Spec:
    """How contacts of one file look."""

    regions: list[tuple[str, int]]  # where contacts are, with weights
    locale: dict[str, str]  # region → name locale
    kinds: list[str]  # phone kinds, in the careful order (main/work first, then mobile...)
    country: dict[str, list[str]] | None  # region → how people write it; None: no column
    default_region: str | None  # the --default-region a user gives (None: the tool's US)
    empty_country: float = 0.1
    intl_styles: tuple[str, ...] = ("intl", "intl", "intl", "e164")
    ext: tuple[str, ...] = (" x{n}", " ext. {n}")
    multi_sep: str = ", "
    placeholders: tuple[str, ...] = ("N/A", "-", "TBD")
    junk: tuple[str, ...] = ("call reception", "12345abc", "see notes")
    short: tuple[str, ...] = ("555-123", "12345", "0")
    sci_decimal: str = "."
    mobile_share: float = 0.35  # contacts that also have a mobile
    extra_styles: dict[str, list[str]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Contact:
    """One generated contact: who, where, the phone cells, and the scenario's intent."""

    person: Person
    region: str  # where the contact is
    country_text: str  # the country cell ("" when the file has none or it is empty)
    read_region: str  # where a careful person reads a national number of this row
    phones: dict[str, object]  # kind → cell
    intent: tuple[str, str]
    note: str = ""


class Gen:
    def __init__(self, seed: int, spec: Spec):
        self.rng = random.Random(seed)
        self.spec = spec
        self.numbers = Numbers(self.rng)
        self.people = People(self.rng)
        self.contacts: list[Contact] = []

    def pick_region(self) -> str:
        regions, weights = zip(*self.spec.regions)
        return self.rng.choices(regions, weights)[0]

    def place(self, region: str, *, force_empty: bool = False) -> tuple[str, str, bool]:
        """The country cell, the region a careful person reads in, whether national is OK."""
        spec = self.spec
        default = spec.default_region or "US"
        if spec.country is None:
            return "", default, region == default
        if force_empty or self.rng.random() < spec.empty_country:
            return "", default, region == default
        return self.rng.choice(spec.country[region]), region, True

    def style(self, region: str, national_ok: bool, extra: bool = False) -> str:
        styles = list(self.spec.intl_styles)
        if region in TRUNK_ZERO:
            styles.append("paren0")
        if national_ok:
            styles += NATIONAL_STYLES.get(region, []) * 2
            if extra:
                styles += self.spec.extra_styles.get(region, [])
        return self.rng.choice(styles)

    def number(self, region: str, kind: str, national_ok: bool, extra: bool = False) -> tuple[str, str]:
        e164 = self.numbers.take(region, kind)
        return e164, fmt(e164, self.style(region, national_ok, extra))

    def contact(self, scenario: str) -> Contact:
        rng, spec = self.rng, self.spec
        main, mobile = spec.kinds[0], spec.kinds[1] if len(spec.kinds) > 1 else None
        force_empty = scenario == "unknown_country"
        for _ in range(100):
            region = self.pick_region()
            country_text, read_region, national_ok = self.place(region, force_empty=force_empty)
            # A number written without its +CC needs a row whose region a reader knows.
            if national_ok or scenario not in ("nozero", "digits_cc"):
                break
        person = self.people.make(spec.locale[region])
        phones: dict[str, object] = {}
        note = ""

        def with_mobile(intent_e164: str) -> tuple[str, str]:
            if mobile and rng.random() < spec.mobile_share:
                _, phones[mobile] = self.number(region, "mobile", national_ok)
            return ("import", intent_e164)

        if scenario == "clean":
            e, phones[main] = self.number(region, rng.choice(["fixed", "fixed", "mobile"]), national_ok, True)
            intent = with_mobile(e)
        elif scenario == "ext":
            e, text = self.number(region, "fixed", national_ok)
            phones[main] = text + rng.choice(spec.ext).format(n=rng.choice([12, 123, 204, 214, 4411]))
            intent, note = with_mobile(e), "extension is not part of the number"
        elif scenario == "multi":
            e, a = self.number(region, "fixed", national_ok)
            _, b = self.number(region, "fixed", national_ok)
            phones[main] = f"{a}{spec.multi_sep}{b}"
            intent, note = ("import", e), "two numbers in one cell: the first"
        elif scenario == "mobile_only":
            e, phones[mobile] = self.number(region, "mobile", national_ok)
            intent, note = ("import", e), "mobile only"
        elif scenario == "placeholder_mobile":
            phones[main] = rng.choice(spec.placeholders)
            e, phones[mobile] = self.number(region, "mobile", national_ok)
            intent, note = ("import", e), "placeholder in the main phone"
        elif scenario == "bad_mobile":
            phones[main] = self.too_short(read_region, allow_zero=True)
            e, phones[mobile] = self.number(region, "mobile", national_ok)
            intent, note = ("import", e), "main phone too short; the mobile is good"
        elif scenario == "missing":
            intent, note = ("reject", "missing_phone"), "no phone at all"
        elif scenario == "placeholder":
            phones[main] = rng.choice(spec.placeholders)
            if mobile and rng.random() < 0.5:
                phones[mobile] = rng.choice(spec.placeholders)
            intent, note = ("reject", "missing_phone"), "placeholder only"
        elif scenario == "junk":
            phones[main] = rng.choice(spec.junk)
            intent, note = ("reject", "invalid_phone"), "letters, not a number"
        elif scenario == "short":
            phones[main] = self.too_short(read_region)
            intent, note = ("reject", "invalid_phone"), "too short"
        elif scenario == "excel_sci":
            # A number Excel turned into scientific notation when the file was saved:
            # only 6 significant digits are left.
            candidates = [r for r, _ in spec.regions if r in POOL_DIGITS]
            e = self.numbers.take(rng.choice(candidates) if candidates else "DE", "mobile")
            digits = e[1:]
            assert len(digits) >= 12, "Excel shows 11 digits in full"
            phones[main] = f"{float(digits):.5E}".replace(".", spec.sci_decimal)
            intent, note = ("reject", "invalid_phone"), "Excel scientific notation: the digits are lost"
        elif scenario == "digits_cc":
            e = self.numbers.take(region, "mobile")
            phones[main] = e[1:]
            intent, note = ("import", e), "country code without +"
        elif scenario == "nozero":
            assert national_ok
            e = self.numbers.take(region, "fixed")
            phones[main] = fmt(e, "nozero")
            intent, note = ("import", e), "trunk 0 lost (the cell was a number)"
        elif scenario == "idd00":
            e = self.numbers.take(region, "fixed")
            phones[main] = fmt(e, "idd00")
            intent, note = ("import", e), "00 international prefix"
        elif scenario == "unknown_country":
            e = self.numbers.take(region, "fixed")
            phones[main] = fmt(e, "intl")
            country_text = rng.choice(["Europe", "EMEA", "Intl.", "Other"])
            intent, note = ("import", e), "country not understood; the number has +CC"
        else:
            raise ValueError(scenario)
        c = Contact(person, region, country_text, read_region, phones, intent, note)
        self.contacts.append(c)
        return c

    def too_short(self, region: str, allow_zero: bool = False) -> str:
        """A number too short to be valid where the row is read (German numbers vary in
        length, so "555-123" is not too short everywhere)."""
        choices = [s for s in self.spec.short if (allow_zero or s != "0")
                   and (s == "0" or read_cell(s, region).state == "bad")]
        return self.rng.choice(choices or ["12"])

    def duplicate(self) -> tuple[Contact, Contact]:
        """The same person again: same phone, maybe written another way."""
        earlier = [c for c in self.contacts if c.intent[0] == "import"]
        src = self.rng.choice(earlier)
        e = src.intent[1]
        national_ok = src.read_region == src.region
        phones = {self.spec.kinds[0]: fmt(e, self.style(src.region, national_ok))}
        c = Contact(src.person, src.region, src.country_text, src.read_region, phones,
                    ("import", e), "the same person again")
        self.contacts.append(c)
        return src, c

    def run(self, plan: list[tuple[str, int]], dups: int) -> list[Contact]:
        order = [s for s, n in plan for _ in range(n)]
        self.rng.shuffle(order)
        out = [self.contact(s) for s in order]
        for _ in range(dups):
            src, dup = self.duplicate()
            # Later in the file than the first occurrence, as exports append newer records.
            at = self.rng.randint(out.index(src) + 1, len(out))
            out.insert(at, dup)
        return out


POOL_DIGITS = {"DE": "49", "GB": "44", "FR": "33", "ES": "34", "IT": "39", "NL": "31", "AT": "43", "CH": "41"}

# ---------------------------------------------------------------------------------------
# Writing files.
# ---------------------------------------------------------------------------------------


def quote_field(value: str, delim: str, mode: str) -> str:
    needs = any(c in value for c in (delim, '"', "\r", "\n")) or value != value.strip()
    if mode == "all" or (mode == "nonempty" and value != "") or needs:
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclasses.dataclass
class Written:
    header_line: int
    data_lines: list[int]
    before: list[int]  # lines of the records before the header
    after: list[int]  # lines of the records after the data


def write_csv(path: pathlib.Path, header: list[str], rows: list[list[str]], *, delim: str = ",",
              quote: str = "minimal", eol: str = "\n", encoding: str = "utf-8", bom: bool = False,
              before: list[str] | None = None, after: list[str] | None = None,
              final_eol: bool = True) -> Written:
    """Writes a CSV byte for byte as `quote`/`eol`/`encoding` say; returns the physical lines
    (1-based) where each record starts. `before`/`after` are raw lines (already quoted),
    an empty string being a blank line."""
    out = io.StringIO()
    line = 1
    written = Written(0, [], [], [])

    def emit(text: str, record: bool) -> int:
        nonlocal line
        start = line
        out.write(text + eol)
        # A line break inside a quoted field is a physical line too.
        line += 1 + text.replace("\r\n", "\n").count("\n")
        return start if record else 0

    for raw in before or []:
        written.before.append(emit(raw, True))
    written.header_line = emit(delim.join(quote_field(h, delim, quote) for h in header), True)
    for r in rows:
        assert len(r) == len(header), (len(r), len(header), r)
        written.data_lines.append(emit(delim.join(quote_field(str(v), delim, quote) for v in r), True))
    for raw in after or []:
        start = emit(raw, True)
        if raw:
            written.after.append(start)
    text = out.getvalue()
    if not final_eol:
        text = text[: -len(eol)]
    data = text.encode(encoding)
    if bom:
        data = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe"}[encoding] + data
    path.write_bytes(data)
    return written


def expectations(rows: list[Row], lines: list[int]) -> list[Expect]:
    out = []
    for i, (row, line) in enumerate(zip(rows, lines), start=1):
        out.append(Expect(line, i, row.outcome, row.e164 if row.outcome == "import" else "",
                          row.lead_id if row.outcome == "import" else row.lead_id, row.klass,
                          row.key, row.note))
    return out


def write_expected(path: pathlib.Path, expects: list[Expect]) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(EXPECT_HEADER)
        for e in sorted(expects, key=lambda e: e.line):
            w.writerow(e.as_list())


MANIFEST: list[dict] = []


def expected_name(name: str) -> str:
    """`hubspot_contacts.csv` → `hubspot_contacts.expected.csv` (`x.csv.gz` → `x.expected.csv`)."""
    if name.endswith(".csv.gz"):
        name = name[: -len(".gz")]
    return name.rsplit(".", 1)[0] + ".expected.csv"


def finish(name: str, rows: list[Row], written: Written, *, imitates: str, product: str, args: list[str],
           encoding: str, delimiter: str, line_endings: str, skips: list[tuple[int, str, str]],
           set_name: str = "main") -> None:
    """Decides every row, writes `<name>.expected.csv`, and records the manifest entry."""
    for row in rows:
        decide(row)
    dedupe(rows)
    expects = expectations(rows, written.data_lines)
    for line, what, note in skips:
        expects.append(Expect(line, None, "skip", klass=what, note=note))
    write_expected(HERE / expected_name(name), expects)
    importable = sum(1 for r in rows if r.outcome == "import")
    MANIFEST.append(dict(file=name, product=product, imitates=imitates, args=args, encoding=encoding,
                         delimiter=delimiter, line_endings=line_endings, data_rows=len(rows),
                         importable=importable, set=set_name))


def write_manifest() -> None:
    def s(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        "# The export corpus: one entry per file, in the order the test reports them.",
        "# Written by generate.py; see README.md for where each format comes from.",
        "#",
        "# file        the export, beside this manifest",
        "# expected    every row's expected outcome (see README.md for its columns)",
        "# product     what made it",
        "# imitates    the export path in that product, as a user would take it",
        "# args        the flags a user would give `nl-import check` (only --default-region,",
        "#             for a single-country file with no country column; never a mapping)",
        "# encoding, delimiter, line_endings: what the file is, for a reader of this manifest",
        "#             (the importer is given none of them)",
        "# data_rows   data rows (title rows and footers are not data rows)",
        "# importable  data rows a careful person imports (see <file>.expected.csv)",
        "# set         main (the corpus the importer was improved against) or holdout (built",
        "#             afterwards from products and variants not in main: an independent measure)",
        "",
    ]
    for m in MANIFEST:
        lines.append("[[export]]")
        lines.append(f"file = {s(m['file'])}")
        lines.append(f"expected = {s(expected_name(m['file']))}")
        lines.append(f"product = {s(m['product'])}")
        lines.append(f"imitates = {s(m['imitates'])}")
        lines.append("args = [" + ", ".join(s(a) for a in m["args"]) + "]")
        lines.append(f"encoding = {s(m['encoding'])}")
        lines.append(f"delimiter = {s(m['delimiter'])}")
        lines.append(f"line_endings = {s(m['line_endings'])}")
        lines.append(f"data_rows = {m['data_rows']}")
        lines.append(f"importable = {m['importable']}")
        lines.append(f"set = {s(m['set'])}")
        lines.append("")
    (HERE / "manifest.toml").write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------------------------------
# Helpers for realistic non-phone cells.
# ---------------------------------------------------------------------------------------


def dt(rng: random.Random, start=datetime.datetime(2022, 1, 3), days=800) -> datetime.datetime:
    return start + datetime.timedelta(days=rng.randrange(days), minutes=rng.randrange(9 * 60, 18 * 60))


def sf_id(rng: random.Random, prefix: str, eighteen: bool) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    fifteen = prefix + "5g00000" + "".join(rng.choice(alphabet) for _ in range(15 - len(prefix) - 7))
    if not eighteen:
        return fifteen
    # Salesforce's case-safe suffix: one character per 5-character chunk, from the
    # positions of its upper-case letters.
    suffix = ""
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    for chunk in range(3):
        bits = 0
        for i, c in enumerate(fifteen[chunk * 5 : chunk * 5 + 5]):
            if "A" <= c <= "Z":
                bits |= 1 << i
        suffix += chars[bits]
    return fifteen + suffix


US_STATES = [("CA", "San Francisco"), ("NY", "New York"), ("IL", "Chicago"), ("MA", "Boston"), ("WA", "Seattle"),
             ("TX", "Austin"), ("CO", "Denver")]
CITIES = {
    "US": ["San Francisco", "New York", "Chicago", "Boston", "Seattle", "Austin", "Denver"],
    "CA": ["Toronto", "Vancouver"], "GB": ["London", "Manchester", "Bristol"], "DE": ["Berlin", "München", "Hamburg"],
    "AT": ["Wien"], "CH": ["Zürich"], "FR": ["Paris", "Lyon"], "BE": ["Bruxelles"], "ES": ["Madrid", "Barcelona"],
    "MX": ["Ciudad de México", "Monterrey"], "AR": ["Buenos Aires"], "CO": ["Bogotá"], "IT": ["Milano", "Roma"],
    "NL": ["Amsterdam", "Rotterdam"], "IN": ["Mumbai", "Bengaluru", "Chennai"], "AU": ["Sydney"],
    "AE": ["Dubai"], "BR": ["São Paulo"], "PT": ["Lisboa"],
}

LOCALE = {"US": "en", "CA": "en", "GB": "gb", "AU": "gb", "DE": "de", "AT": "de", "CH": "de", "FR": "fr",
          "BE": "fr", "ES": "es", "MX": "es", "AR": "es", "CO": "es", "IT": "it", "NL": "nl", "IN": "in",
          "AE": "in", "BR": "pt", "PT": "pt"}

EN_COUNTRY = {
    "US": ["United States", "United States", "USA", "US", "U.S."],
    "CA": ["Canada"], "GB": ["United Kingdom", "UK", "United Kingdom", "Great Britain"],
    "DE": ["Germany", "Deutschland"], "FR": ["France"], "ES": ["Spain", "España"], "IN": ["India"],
    "AU": ["Australia"], "AE": ["United Arab Emirates", "UAE"], "NL": ["Netherlands"], "IT": ["Italy"],
    "MX": ["Mexico"], "AT": ["Austria"], "CH": ["Switzerland"], "BE": ["Belgium"],
}


def key_of(p: Person) -> str:
    return p.email


# ---------------------------------------------------------------------------------------
# The exports.
# ---------------------------------------------------------------------------------------

STANDARD_PLAN = [
    ("clean", 44), ("ext", 3), ("multi", 2), ("mobile_only", 5), ("placeholder_mobile", 2), ("bad_mobile", 1),
    ("missing", 3), ("placeholder", 2), ("junk", 1), ("short", 1), ("excel_sci", 1), ("unknown_country", 1),
]


def hubspot() -> None:
    spec = Spec(
        regions=[("US", 55), ("GB", 12), ("CA", 8), ("DE", 6), ("FR", 5), ("IN", 5), ("AU", 5), ("ES", 4)],
        locale=LOCALE, kinds=["phone", "mobile"], country=EN_COUNTRY, default_region=None, empty_country=0.12,
    )
    g = Gen(101, spec)
    contacts = g.run(STANDARD_PLAN, dups=3)
    rng = g.rng
    header = ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number", "Company Name",
              "Job Title", "Country/Region", "State/Region", "City", "Lifecycle Stage", "Lead Status",
              "Contact owner", "Create Date", "Last Activity Date", "Marketing contact status"]
    rows, table = [], []
    for c in contacts:
        rid = str(rng.randrange(10_000_000_000, 99_999_999_999))
        p = c.person
        state = rng.choice(US_STATES)[0] if c.region == "US" and c.country_text else ""
        created = dt(rng)
        cells = {
            "Record ID": rid, "First Name": p.first, "Last Name": p.last, "Email": p.email,
            "Phone Number": c.phones.get("phone", ""), "Mobile Phone Number": c.phones.get("mobile", ""),
            "Company Name": p.company,
            "Job Title": rng.choice(["VP Sales", "Head of Operations", "Office Manager", "CTO", "Buyer", ""]),
            "Country/Region": c.country_text, "State/Region": state,
            "City": rng.choice(CITIES[c.region]) if c.country_text else "",
            "Lifecycle Stage": rng.choice(["Lead", "Lead", "Marketing Qualified Lead", "Sales Qualified Lead",
                                           "Opportunity", "Subscriber"]),
            "Lead Status": rng.choice(["New", "Open", "In progress", "Attempted to contact", "Connected",
                                       "Unqualified", "Bad timing", "Open deal", ""]),
            "Contact owner": rng.choice(["Dana Whitfield", "Marcus Reed", "Priya Shah", ""]),
            "Create Date": created.strftime("%Y-%m-%d %H:%M"),
            "Last Activity Date": (created + datetime.timedelta(days=rng.randrange(1, 90))).strftime("%Y-%m-%d %H:%M")
            if rng.random() < 0.6 else "",
            "Marketing contact status": rng.choice(["Marketing contact", "Non-marketing contact"]),
        }
        rows.append(Row(cells, ["Phone Number", "Mobile Phone Number"], c.read_region, lead_id=rid,
                        key=key_of(p), note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "hubspot_contacts.csv"
    w = write_csv(HERE / name, header, table)
    finish(name, rows, w, product="HubSpot", args=[],
           imitates="HubSpot › CRM › Contacts › Export › CSV (properties in the view, English labels)",
           encoding="UTF-8", delimiter=",", line_endings="LF", skips=[])


def salesforce_report() -> None:
    spec = Spec(
        regions=[("US", 65), ("CA", 8), ("GB", 12), ("DE", 8), ("FR", 7)],
        locale=LOCALE, kinds=["phone", "mobile"], default_region=None, empty_country=0.08,
        country={"US": ["USA", "US", "United States"], "CA": ["Canada"], "GB": ["UK", "United Kingdom"],
                 "DE": ["Germany"], "FR": ["France"]},
        ext=(" x{n}", " x{n}", " ext {n}"),
        intl_styles=("intl", "intl", "e164"),
    )
    g = Gen(202, spec)
    plan = [("clean", 38), ("ext", 3), ("mobile_only", 4), ("placeholder_mobile", 1), ("bad_mobile", 1),
            ("missing", 3), ("placeholder", 1), ("junk", 1), ("short", 1), ("unknown_country", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["Lead ID", "Lead Owner", "First Name", "Last Name", "Title", "Company / Account", "Email", "Phone",
              "Mobile", "Lead Source", "Lead Status", "Rating", "City", "State/Province", "Country", "Create Date"]
    rows, table = [], []
    for c in contacts:
        lid = sf_id(rng, "00Q", eighteen=False)
        p = c.person
        cells = {
            "Lead ID": lid, "Lead Owner": rng.choice(["Dana Whitfield", "Marcus Reed", "Priya Shah"]),
            "First Name": p.first, "Last Name": p.last,
            "Title": rng.choice(["Director of IT", "Procurement Manager", "CEO", "Facilities Manager", ""]),
            "Company / Account": p.company, "Email": p.email,
            "Phone": c.phones.get("phone", ""), "Mobile": c.phones.get("mobile", ""),
            "Lead Source": rng.choice(["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Other"]),
            "Lead Status": rng.choice(["Open - Not Contacted", "Working - Contacted", "Working - Contacted",
                                       "Closed - Converted", "Closed - Not Converted"]),
            "Rating": rng.choice(["Hot", "Warm", "Cold", ""]),
            "City": rng.choice(CITIES[c.region]) if c.country_text else "",
            "State/Province": rng.choice(US_STATES)[0] if c.region == "US" and c.country_text else "",
            "Country": c.country_text,
            "Create Date": dt(rng).strftime("%-m/%-d/%Y"),
        }
        rows.append(Row(cells, ["Phone", "Mobile"], c.read_region, lead_id=lid, key=key_of(p), note=c.note,
                        intent=c.intent))
        table.append([cells[h] for h in header])
    footer = ["", '"Open Leads - All Regions"', '"Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."',
              '"Confidential Information - Do Not Distribute"', '"Generated By:  Dana Whitfield  3/18/2024 9:42 AM"',
              '"Northwind Traders, Inc."']
    name = "salesforce_lead_report.csv"
    w = write_csv(HERE / name, header, table, quote="all", after=footer)
    skips = salesforce_footer_skips(w)
    finish(name, rows, w, product="Salesforce", args=[],
           imitates="Salesforce › Reports › a Leads report › Export › Details Only, .csv, Unicode (UTF-8)",
           encoding="UTF-8", delimiter=",", line_endings="LF", skips=skips)


def salesforce_footer_skips(written: Written) -> list[tuple[int, str, str]]:
    """The skips the importer lists for a Salesforce report's footer, written after the
    table (a blank line, then these five lines)."""
    what = ["report name", "copyright", "confidentiality notice", "generated by", "organisation name"]
    return [(line, "report_footer", what[i]) for i, line in enumerate(written.after)]


def salesforce_data_export() -> None:
    spec = Spec(
        regions=[("US", 70), ("CA", 10), ("GB", 12), ("DE", 8)],
        locale=LOCALE, kinds=["phone", "mobile"], default_region=None, empty_country=0.1,
        country={"US": ["USA", "United States", "US"], "CA": ["Canada", "CA"], "GB": ["United Kingdom", "UK"],
                 "DE": ["Germany", "DE"]},
        ext=(" x{n}",),
    )
    g = Gen(303, spec)
    plan = [("clean", 34), ("ext", 2), ("mobile_only", 4), ("placeholder_mobile", 1), ("missing", 2),
            ("placeholder", 1), ("short", 1), ("junk", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["Id", "IsDeleted", "MasterRecordId", "LastName", "FirstName", "Salutation", "Name", "Title", "Company",
              "Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude", "GeocodeAccuracy", "Phone",
              "MobilePhone", "Fax", "Email", "Website", "PhotoUrl", "Description", "LeadSource", "Status", "Industry",
              "Rating", "AnnualRevenue", "NumberOfEmployees", "OwnerId", "IsConverted", "ConvertedDate",
              "ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId", "IsUnreadByOwner", "CreatedDate",
              "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "LastActivityDate",
              "LastViewedDate", "LastReferencedDate", "Jigsaw", "JigsawContactId", "EmailBouncedReason",
              "EmailBouncedDate", "IndividualId"]
    owners = [sf_id(rng, "005", True) for _ in range(3)]
    rows, table = [], []
    # One lead has only a fax number: a careful person does not call a fax.
    fax_only_at = next(i for i, c in enumerate(contacts) if i > 15 and c.intent[0] == "import"
                       and set(c.phones) == {"phone"} and c.note == "")
    for i, c in enumerate(contacts):
        lid = sf_id(rng, "00Q", eighteen=True)
        p = c.person
        status = rng.choice(["Open - Not Contacted", "Working - Contacted", "Working - Contacted",
                             "Closed - Converted", "Closed - Not Converted"])
        converted = status == "Closed - Converted"
        created = dt(rng)
        stamp = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
        desc = ""
        if rng.random() < 0.2:
            desc = rng.choice(["Met at Dreamforce.\nWants a demo in Q3.", "Called twice, no answer.",
                               "Budget approved; \"urgent\" per their CFO.\r\nSend pricing."])
        fax = ""
        phones = dict(c.phones)
        intent, note = c.intent, c.note
        if i == fax_only_at:
            e = c.intent[1]
            fax = fmt(e, "national" if c.read_region == c.region else "intl")
            phones = {}
            intent, note = ("reject", "missing_phone"), "only a fax number"
        cells = {
            "Id": lid, "IsDeleted": "false", "MasterRecordId": "", "LastName": p.last, "FirstName": p.first,
            "Salutation": rng.choice(["Mr.", "Ms.", "Dr.", ""]), "Name": f"{p.first} {p.last}",
            "Title": rng.choice(["VP Operations", "IT Manager", "Owner", ""]), "Company": p.company,
            "Street": rng.choice(["1600 Amphitheatre Pkwy", "500 Oracle Pkwy", "1 Market St\nSuite 300", ""]),
            "City": rng.choice(CITIES[c.region]) if c.country_text else "", "State": "", "PostalCode": "",
            "Country": c.country_text, "Latitude": "", "Longitude": "", "GeocodeAccuracy": "",
            "Phone": phones.get("phone", ""), "MobilePhone": phones.get("mobile", ""), "Fax": fax,
            "Email": p.email, "Website": "", "PhotoUrl": "", "Description": desc,
            "LeadSource": rng.choice(["Web", "Phone Inquiry", "Partner Referral", "Trade Show", ""]), "Status": status,
            "Industry": rng.choice(["Technology", "Manufacturing", "Healthcare", ""]),
            "Rating": rng.choice(["Hot", "Warm", "Cold", ""]), "AnnualRevenue": "", "NumberOfEmployees": "",
            "OwnerId": rng.choice(owners), "IsConverted": "true" if converted else "false",
            "ConvertedDate": created.strftime("%Y-%m-%d") if converted else "",
            "ConvertedAccountId": sf_id(rng, "001", True) if converted else "",
            "ConvertedContactId": sf_id(rng, "003", True) if converted else "",
            "ConvertedOpportunityId": "", "IsUnreadByOwner": "false", "CreatedDate": stamp(created),
            "CreatedById": owners[0], "LastModifiedDate": stamp(created + datetime.timedelta(days=3)),
            "LastModifiedById": owners[0], "SystemModstamp": stamp(created + datetime.timedelta(days=3)),
            "LastActivityDate": "", "LastViewedDate": "", "LastReferencedDate": "", "Jigsaw": "",
            "JigsawContactId": "", "EmailBouncedReason": "", "EmailBouncedDate": "", "IndividualId": "",
        }
        rows.append(Row(cells, ["Phone", "MobilePhone"], c.read_region, lead_id=lid, key=key_of(p), note=note,
                        intent=intent))
        table.append([cells[h] for h in header])
    name = "salesforce_export_Lead.csv"
    w = write_csv(HERE / name, header, table, quote="all", eol="\n")
    finish(name, rows, w, product="Salesforce",
           args=[], imitates="Salesforce › Setup › Data Export (weekly) › Lead.csv from the export .zip",
           encoding="UTF-8", delimiter=",", line_endings="LF (CRLF inside some Description fields)", skips=[])


def pipedrive() -> None:
    spec = Spec(
        regions=[("GB", 75), ("US", 10), ("DE", 8), ("FR", 7)],
        locale=LOCALE, kinds=["work", "mobile", "home", "other"], country=None, default_region="GB",
        ext=(" ext. {n}", " x{n}"),
    )
    g = Gen(404, spec)
    plan = [("clean", 38), ("ext", 2), ("multi", 3), ("mobile_only", 5), ("placeholder_mobile", 1),
            ("bad_mobile", 1), ("missing", 3), ("placeholder", 1), ("junk", 1), ("short", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["Person - ID", "Person - Name", "Person - First name", "Person - Last name", "Person - Label",
              "Person - Organization", "Person - Email - Work", "Person - Email - Home", "Person - Email - Other",
              "Person - Phone - Work", "Person - Phone - Home", "Person - Phone - Mobile", "Person - Phone - Other",
              "Person - Owner", "Person - Open deals", "Person - Closed deals", "Person - Won deals",
              "Person - Lost deals", "Person - Person created", "Person - Update time", "Person - Visible to",
              "Person - Next activity date", "Person - Last activity date", "Person - Postal address",
              "Person - Marketing status"]
    rows, table = [], []
    pid = 1200
    for c in contacts:
        pid += rng.randrange(1, 40)
        p = c.person
        phones = dict(c.phones)
        # Some contacts keep a second number under Home or Other.
        if c.intent[0] == "import" and rng.random() < 0.15 and "home" not in phones:
            _, phones["home"] = g.number(c.region, "mobile", c.read_region == c.region)
        created = dt(rng)
        cells = {
            "Person - ID": str(pid), "Person - Name": f"{p.first} {p.last}", "Person - First name": p.first,
            "Person - Last name": p.last, "Person - Label": rng.choice(["Hot lead", "Warm lead", "Cold lead", "Customer", ""]),
            "Person - Organization": p.company, "Person - Email - Work": p.email, "Person - Email - Home": "",
            "Person - Email - Other": "", "Person - Phone - Work": phones.get("work", ""),
            "Person - Phone - Home": phones.get("home", ""), "Person - Phone - Mobile": phones.get("mobile", ""),
            "Person - Phone - Other": phones.get("other", ""), "Person - Owner": rng.choice(["Tom Ellis", "Grace Hughes"]),
            "Person - Open deals": str(rng.randrange(0, 3)), "Person - Closed deals": str(rng.randrange(0, 2)),
            "Person - Won deals": "0", "Person - Lost deals": str(rng.randrange(0, 2)),
            "Person - Person created": created.strftime("%Y-%m-%d %H:%M:%S"),
            "Person - Update time": (created + datetime.timedelta(days=rng.randrange(1, 60))).strftime("%Y-%m-%d %H:%M:%S"),
            "Person - Visible to": rng.choice(["Owner & followers", "Entire company"]),
            "Person - Next activity date": "", "Person - Last activity date": "",
            "Person - Postal address": rng.choice(["", "", "221B Baker Street, London NW1 6XE, UK", "10 Downing St, London"]),
            "Person - Marketing status": rng.choice(["Subscribed", "No consent", "Unsubscribed"]),
        }
        order = ["Person - Phone - Work", "Person - Phone - Mobile", "Person - Phone - Home", "Person - Phone - Other"]
        rows.append(Row(cells, order, c.read_region, lead_id=str(pid), key=key_of(p), note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "pipedrive_persons.csv"
    w = write_csv(HERE / name, header, table)
    finish(name, rows, w, product="Pipedrive", args=["--default-region", "GB"],
           imitates="Pipedrive › Contacts › People › ... › Export filter results › CSV (a UK sales team)",
           encoding="UTF-8", delimiter=",", line_endings="LF", skips=[])


def zoho() -> None:
    spec = Spec(
        regions=[("IN", 60), ("US", 15), ("AE", 10), ("GB", 10), ("AU", 5)],
        locale=LOCALE, kinds=["phone", "mobile"], default_region=None, empty_country=0.08,
        country={"IN": ["India", "India", "IN"], "US": ["USA", "United States"], "AE": ["United Arab Emirates", "UAE"],
                 "GB": ["United Kingdom", "UK"], "AU": ["Australia"]},
        intl_styles=("intl", "intl", "e164", "cc_dash"),
        placeholders=("-", "NA", "N/A"),
    )
    g = Gen(505, spec)
    plan = [("clean", 38), ("ext", 1), ("mobile_only", 6), ("placeholder_mobile", 2), ("missing", 3),
            ("placeholder", 1), ("junk", 1), ("short", 1), ("unknown_country", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["Record Id", "Lead Owner", "Salutation", "First Name", "Last Name", "Company", "Title", "Email",
              "Phone", "Mobile", "Fax", "Website", "Lead Source", "Lead Status", "Industry", "No. of Employees",
              "Annual Revenue", "Rating", "Email Opt Out", "Street", "City", "State", "Zip Code", "Country",
              "Description", "Created Time", "Modified Time", "Tag"]
    rows, table = [], []
    for c in contacts:
        rid = "zcrm_4876876" + str(rng.randrange(10**11, 10**12))
        p = c.person
        created = dt(rng)
        cells = {
            "Record Id": rid, "Lead Owner": rng.choice(["Ravi Kumar", "Anita Menon"]),
            "Salutation": rng.choice(["-None-", "-None-", "Mr.", "Ms.", "Dr."]), "First Name": p.first,
            "Last Name": p.last, "Company": p.company, "Title": rng.choice(["Manager", "Director", "Proprietor", ""]),
            "Email": p.email, "Phone": c.phones.get("phone", ""), "Mobile": c.phones.get("mobile", ""), "Fax": "",
            "Website": "", "Lead Source": rng.choice(["-None-", "Advertisement", "Cold Call", "Web Download", "Trade Show"]),
            "Lead Status": rng.choice(["-None-", "-None-", "Not Contacted", "Attempted to Contact", "Contacted",
                                       "Contact in Future", "Pre-Qualified", "Not Qualified", "Junk Lead", "Lost Lead"]),
            "Industry": rng.choice(["-None-", "Manufacturing", "Retail", "IT Services"]),
            "No. of Employees": rng.choice(["", "10", "250"]), "Annual Revenue": rng.choice(["", "₹ 5,00,000.00"]),
            "Rating": rng.choice(["-None-", "Acquired", "Active", "Market Failed"]),
            "Email Opt Out": rng.choice(["false", "false", "true"]), "Street": "",
            "City": rng.choice(CITIES[c.region]) if c.country_text else "", "State": "", "Zip Code": "",
            "Country": c.country_text, "Description": "",
            "Created Time": created.strftime("%Y-%m-%d %H:%M:%S"),
            "Modified Time": (created + datetime.timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S"),
            "Tag": rng.choice(["", "", "Expo 2024", "Expo 2024,Hot"]),
        }
        rows.append(Row(cells, ["Phone", "Mobile"], c.read_region, lead_id=rid, key=key_of(p), note=c.note,
                        intent=c.intent))
        table.append([cells[h] for h in header])
    name = "zoho_leads.csv"
    w = write_csv(HERE / name, header, table, quote="all")
    finish(name, rows, w, product="Zoho CRM", args=[],
           imitates="Zoho CRM › Leads › Export (Setup › Data Administration › Export › Leads), CSV",
           encoding="UTF-8", delimiter=",", line_endings="LF", skips=[])


def google_contacts() -> None:
    spec = Spec(
        regions=[("US", 70), ("GB", 8), ("FR", 6), ("DE", 6), ("MX", 5), ("IN", 5)],
        locale=LOCALE, kinds=["p1", "p2"], default_region=None, empty_country=0.85,
        country={r: ["United States", "US"] if r == "US" else EN_COUNTRY.get(r, [r]) for r in
                 ["US", "GB", "FR", "DE", "MX", "IN"]},
        multi_sep=" ::: ", mobile_share=0.3,
    )
    g = Gen(606, spec)
    plan = [("clean", 30), ("multi", 3), ("mobile_only", 3), ("ext", 1), ("missing", 3), ("junk", 1), ("short", 1)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name",
              "Phonetic Last Name", "Name Prefix", "Name Suffix", "Nickname", "File As", "Organization Name",
              "Organization Title", "Organization Department", "Birthday", "Notes", "Photo", "Labels",
              "E-mail 1 - Label", "E-mail 1 - Value", "E-mail 2 - Label", "E-mail 2 - Value", "Phone 1 - Label",
              "Phone 1 - Value", "Phone 2 - Label", "Phone 2 - Value", "Address 1 - Label", "Address 1 - Formatted",
              "Address 1 - Street", "Address 1 - City", "Address 1 - PO Box", "Address 1 - Region",
              "Address 1 - Postal Code", "Address 1 - Country", "Address 1 - Extended Address",
              "Website 1 - Label", "Website 1 - Value"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        p1, p2 = c.phones.get("p1", ""), c.phones.get("p2", "")
        if not p1 and p2:  # Google lists numbers from Phone 1 on
            p1, p2 = p2, ""
        l1 = rng.choice(["Mobile", "Work", "Work", "Main", "Home"]) if p1 else ""
        l2 = ("Mobile" if l1 != "Mobile" else "Work") if p2 else ""
        notes = rng.choice(["", "", "", "Met at SaaStr 2023", "Prefers email, then:\ncall after 3pm"])
        cells = {h: "" for h in header}
        cells.update({
            "First Name": p.first, "Last Name": p.last, "Organization Name": p.company, "Notes": notes,
            "Labels": rng.choice(["* myContacts", "* myContacts", "Clients ::: * myContacts", "* starred ::: * myContacts"]),
            "E-mail 1 - Label": rng.choice(["Work", "* Work", "Home"]), "E-mail 1 - Value": p.email,
            "Phone 1 - Label": l1, "Phone 1 - Value": p1, "Phone 2 - Label": l2, "Phone 2 - Value": p2,
            "Address 1 - Country": c.country_text,
            "Address 1 - Label": "Work" if c.country_text else "",
            "Address 1 - City": rng.choice(CITIES[c.region]) if c.country_text else "",
        })
        rows.append(Row(cells, ["Phone 1 - Value", "Phone 2 - Value"], c.read_region, key=key_of(p), note=c.note,
                        either=True, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "google_contacts.csv"
    w = write_csv(HERE / name, header, table, eol="\r\n", bom=True)
    finish(name, rows, w, product="Google Contacts", args=[],
           imitates="contacts.google.com › Export › Google CSV (2020s format: `Phone 1 - Label`/`Phone 1 - Value`)",
           encoding="UTF-8 with BOM", delimiter=",", line_endings="CRLF", skips=[])


def google_contacts_legacy() -> None:
    spec = Spec(
        regions=[("US", 75), ("GB", 10), ("DE", 8), ("FR", 7)],
        locale=LOCALE, kinds=["p1", "p2"], default_region=None, empty_country=0.9,
        country={"US": ["United States"], "GB": ["United Kingdom"], "DE": ["Germany"], "FR": ["France"]},
        multi_sep=" ::: ", mobile_share=0.3,
    )
    g = Gen(707, spec)
    plan = [("clean", 20), ("multi", 2), ("mobile_only", 2), ("missing", 2), ("short", 1)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["Name", "Given Name", "Additional Name", "Family Name", "Yomi Name", "Given Name Yomi",
              "Additional Name Yomi", "Family Name Yomi", "Name Prefix", "Name Suffix", "Initials", "Nickname",
              "Short Name", "Maiden Name", "Birthday", "Gender", "Location", "Billing Information", "Directory Server",
              "Mileage", "Occupation", "Hobby", "Sensitivity", "Priority", "Subject", "Notes", "Language", "Photo",
              "Group Membership", "E-mail 1 - Type", "E-mail 1 - Value", "Phone 1 - Type", "Phone 1 - Value",
              "Phone 2 - Type", "Phone 2 - Value", "Address 1 - Type", "Address 1 - Formatted", "Address 1 - Street",
              "Address 1 - City", "Address 1 - PO Box", "Address 1 - Region", "Address 1 - Postal Code",
              "Address 1 - Country", "Address 1 - Extended Address", "Organization 1 - Type", "Organization 1 - Name",
              "Organization 1 - Yomi Name", "Organization 1 - Title", "Organization 1 - Department",
              "Organization 1 - Symbol", "Organization 1 - Location", "Organization 1 - Job Description"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        p1, p2 = c.phones.get("p1", ""), c.phones.get("p2", "")
        if not p1 and p2:
            p1, p2 = p2, ""
        t1 = rng.choice(["Mobile", "Work", "Home", "Main"]) if p1 else ""
        t2 = ("Mobile" if t1 != "Mobile" else "Work") if p2 else ""
        cells = {h: "" for h in header}
        cells.update({
            "Name": f"{p.first} {p.last}", "Given Name": p.first, "Family Name": p.last,
            "Group Membership": rng.choice(["* myContacts", "* myContacts ::: Customers", "* My Contacts"]),
            "E-mail 1 - Type": rng.choice(["* Work", "* Home", "* Other"]), "E-mail 1 - Value": p.email,
            "Phone 1 - Type": t1, "Phone 1 - Value": p1, "Phone 2 - Type": t2, "Phone 2 - Value": p2,
            "Address 1 - Country": c.country_text, "Address 1 - Type": "Work" if c.country_text else "",
            "Organization 1 - Type": "", "Organization 1 - Name": p.company,
        })
        rows.append(Row(cells, ["Phone 1 - Value", "Phone 2 - Value"], c.read_region, key=key_of(p), note=c.note,
                        either=True, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "google_contacts_legacy.csv"
    w = write_csv(HERE / name, header, table, eol="\r\n", encoding="utf-16-le", bom=True)
    finish(name, rows, w, product="Google Contacts (old Gmail)", args=[],
           imitates="Gmail › Contacts › More › Export › Google CSV format (the pre-2019 contact manager)",
           encoding="UTF-16LE with BOM", delimiter=",", line_endings="CRLF", skips=[])


OUTLOOK_HEADER = [
    "Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company", "Department", "Job Title",
    "Business Street", "Business Street 2", "Business Street 3", "Business City", "Business State",
    "Business Postal Code", "Business Country/Region", "Home Street", "Home Street 2", "Home Street 3", "Home City",
    "Home State", "Home Postal Code", "Home Country/Region", "Other Street", "Other Street 2", "Other Street 3",
    "Other City", "Other State", "Other Postal Code", "Other Country/Region", "Assistant's Phone", "Business Fax",
    "Business Phone", "Business Phone 2", "Callback", "Car Phone", "Company Main Phone", "Home Fax", "Home Phone",
    "Home Phone 2", "ISDN", "Mobile Phone", "Other Fax", "Other Phone", "Pager", "Primary Phone", "Radio Phone",
    "TTY/TDD Phone", "Telex", "Account", "Anniversary", "Assistant's Name", "Billing Information", "Birthday",
    "Business Address PO Box", "Categories", "Children", "Directory Server", "E-mail Address", "E-mail Type",
    "E-mail Display Name", "E-mail 2 Address", "E-mail 2 Type", "E-mail 2 Display Name", "E-mail 3 Address",
    "E-mail 3 Type", "E-mail 3 Display Name", "Gender", "Government ID Number", "Hobby", "Home Address PO Box",
    "Initials", "Internet Free Busy", "Keywords", "Language", "Location", "Manager's Name", "Mileage", "Notes",
    "Office Location", "Organizational ID Number", "Other Address PO Box", "Priority", "Private", "Profession",
    "Referred By", "Sensitivity", "Spouse", "User 1", "User 2", "User 3", "User 4", "Web Page",
]


def outlook() -> None:
    spec = Spec(
        regions=[("US", 65), ("DE", 12), ("FR", 10), ("ES", 8), ("GB", 5)],
        locale=LOCALE, kinds=["business", "mobile", "home"], default_region=None, empty_country=0.3,
        country={"US": ["United States of America"], "DE": ["Germany"], "FR": ["France"], "ES": ["Spain"],
                 "GB": ["United Kingdom"]},
        intl_styles=("outlook", "outlook", "intl"),
        ext=(" x{n}",),
    )
    g = Gen(808, spec)
    plan = [("clean", 28), ("ext", 2), ("mobile_only", 4), ("missing", 2), ("placeholder", 1), ("short", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {h: "" for h in OUTLOOK_HEADER}
        cells.update({
            "First Name": p.first, "Last Name": p.last, "Company": p.company,
            "Job Title": rng.choice(["", "Sales Director", "Account Manager"]),
            "Business City": rng.choice(CITIES[c.region]) if c.country_text else "",
            "Business Country/Region": c.country_text,
            "Business Phone": c.phones.get("business", ""), "Mobile Phone": c.phones.get("mobile", ""),
            "Home Phone": c.phones.get("home", ""),
            "Anniversary": "0/0/00", "Birthday": "0/0/00", "E-mail Address": p.email, "E-mail Type": "SMTP",
            "E-mail Display Name": f"{p.first} {p.last} ({p.email})", "Gender": "Unspecified",
            "Initials": f"{p.first[0]}.{p.last[0]}.", "Priority": "Normal", "Private": "False",
            "Sensitivity": "Normal", "Categories": rng.choice(["", "", "Business", "Clients;VIP"]),
        })
        rows.append(Row(cells, ["Business Phone", "Mobile Phone", "Home Phone"], c.read_region, key=key_of(p),
                        note=c.note, intent=c.intent))
        table.append([cells[h] for h in OUTLOOK_HEADER])
    name = "outlook_contacts.csv"
    w = write_csv(HERE / name, OUTLOOK_HEADER, table, quote="nonempty", eol="\r\n", encoding="cp1252")
    finish(name, rows, w, product="Microsoft Outlook", args=[],
           imitates="Outlook for Windows › File › Open & Export › Import/Export › Export to a file › "
                    "Comma Separated Values › Contacts",
           encoding="Windows-1252", delimiter=",", line_endings="CRLF", skips=[])


def mailchimp() -> None:
    spec = Spec(
        regions=[("US", 70), ("GB", 12), ("CA", 8), ("AU", 5), ("DE", 5)],
        locale=LOCALE, kinds=["phone"], default_region=None, empty_country=0.0,
        country={r: [r] for r in ["US", "GB", "CA", "AU", "DE"]},
    )
    g = Gen(909, spec)
    plan = [("clean", 30), ("ext", 1), ("missing", 16), ("placeholder", 1), ("short", 1)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["Email Address", "First Name", "Last Name", "Address", "Phone Number", "Birthday", "MEMBER_RATING",
              "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE", "LONGITUDE", "GMTOFF", "DSTOFF",
              "TIMEZONE", "CC", "REGION", "LAST_CHANGED", "LEID", "EUID", "NOTES", "TAGS"]
    tz = {"US": ("America/Los_Angeles", "-8", "-7"), "GB": ("Europe/London", "0", "1"), "CA": ("America/Toronto", "-5", "-4"),
          "AU": ("Australia/Sydney", "10", "11"), "DE": ("Europe/Berlin", "1", "2")}
    rows, table = [], []
    for c in contacts:
        p = c.person
        t = dt(rng)
        zone, gmt, dst = tz[c.region]
        addr = ""
        if rng.random() < 0.4:
            addr = f"{rng.randrange(1, 999)} Main St  {rng.choice(CITIES[c.region])}    {rng.randrange(10000, 99999)}  {c.region}"
        cells = {
            "Email Address": p.email, "First Name": p.first, "Last Name": p.last, "Address": addr,
            "Phone Number": c.phones.get("phone", ""), "Birthday": rng.choice(["", "", "04/12", "11/30"]),
            "MEMBER_RATING": str(rng.randrange(1, 6)), "OPTIN_TIME": t.strftime("%Y-%m-%d %H:%M:%S"),
            "OPTIN_IP": "", "CONFIRM_TIME": (t + datetime.timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M:%S"),
            "CONFIRM_IP": f"203.0.113.{rng.randrange(1, 254)}", "LATITUDE": "", "LONGITUDE": "", "GMTOFF": gmt,
            "DSTOFF": dst, "TIMEZONE": zone, "CC": c.country_text, "REGION": "",
            "LAST_CHANGED": (t + datetime.timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S"),
            "LEID": str(rng.randrange(100000000, 999999999)), "EUID": "%010x" % rng.randrange(16**10), "NOTES": "",
            "TAGS": rng.choice(["", "", '"Customer"', '"Webinar 2024","Newsletter"']),
        }
        rows.append(Row(cells, ["Phone Number"], c.read_region, key=key_of(p), note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "mailchimp_audience.csv"
    w = write_csv(HERE / name, header, table, eol="\r\n")
    finish(name, rows, w, product="Mailchimp", args=[],
           imitates="Mailchimp › Audience › All contacts › Export Audience (subscribed_members_export_*.csv)",
           encoding="UTF-8", delimiter=",", line_endings="CRLF", skips=[])


def french_excel() -> None:
    spec = Spec(
        regions=[("FR", 88), ("BE", 6), ("CH", 6)],
        locale=LOCALE, kinds=["tel", "mobile"], country=None, default_region="FR",
        intl_styles=("intl", "intl", "idd00"), ext=(" poste {n}", " poste {n}", " p.{n}"),
        placeholders=("néant", "-", "N/A", "0"), junk=("voir accueil", "standard", "01 42 XX XX XX"),
        short=("01 42 68", "0612", "42 68 53"), sci_decimal=",",
        extra_styles={"FR": ["nozero", "nozero"]},
    )
    g = Gen(1010, spec)
    plan = [("clean", 36), ("ext", 2), ("mobile_only", 4), ("placeholder_mobile", 1), ("bad_mobile", 1),
            ("missing", 2), ("placeholder", 2), ("junk", 1), ("short", 1), ("nozero", 1), ("idd00", 1),
            ("digits_cc", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["Civilité", "Nom", "Prénom", "Société", "Fonction", "Téléphone", "Portable", "E-mail", "Adresse",
              "Code postal", "Ville", "Statut", "Date de contact", "Commentaire"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Civilité": rng.choice(["M.", "Mme", "M.", ""]), "Nom": p.last.upper() if rng.random() < 0.3 else p.last,
            "Prénom": p.first, "Société": p.company, "Fonction": rng.choice(["Gérant", "Directrice achats", "DSI", ""]),
            "Téléphone": c.phones.get("tel", ""), "Portable": c.phones.get("mobile", ""), "E-mail": p.email,
            "Adresse": rng.choice(["", "12 rue de la Paix", "3, place Bellecour"]),
            "Code postal": rng.choice(["75002", "69002", ""]), "Ville": rng.choice(CITIES[c.region]),
            "Statut": rng.choice(["Nouveau", "Nouveau", "Contacté", "À rappeler", "Qualifié", "Non qualifié", "Perdu", ""]),
            "Date de contact": dt(rng).strftime("%d/%m/%Y"),
            "Commentaire": rng.choice(["", "", "", "Rappeler après le 15; très intéressé", "Vu au salon – stand B12"]),
        }
        rows.append(Row(cells, ["Téléphone", "Portable"], c.read_region, key=key_of(p), note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    n = len(header)
    before = ["Liste des prospects – Salon Vivatech 2024" + ";" * (n - 1), ";" * (n - 1)]
    name = "fr_excel_prospects.csv"
    w = write_csv(HERE / name, header, table, delim=";", eol="\r\n", encoding="cp1252", before=before)
    skips = [(w.before[0], "title_row", "a title typed above the header"),
             (w.before[1], "blank_row", "the empty row under the title (Excel writes it as ;;;)")]
    finish(name, rows, w, product="Microsoft Excel (French)", args=["--default-region", "FR"],
           imitates="Excel (fr-FR) › Enregistrer sous › CSV (séparateur : point-virgule)",
           encoding="Windows-1252", delimiter=";", line_endings="CRLF", skips=skips)


def german_excel() -> None:
    spec = Spec(
        regions=[("DE", 76), ("AT", 12), ("CH", 12)],
        locale=LOCALE, kinds=["tel", "mobile"], default_region=None, empty_country=0.05,
        country={"DE": ["Deutschland", "Deutschland", "Deutschland", "DE", "D"], "AT": ["Österreich", "AT"],
                 "CH": ["Schweiz", "CH"]},
        intl_styles=("intl", "intl", "idd00"), ext=(" Durchwahl {n}", " DW {n}"),
        placeholders=("k.A.", "-", "keine", "k. A."), junk=("Zentrale anrufen", "siehe Notiz"),
        short=("030 12", "1234", "0151"), sci_decimal=",",
        extra_styles={"DE": ["compact_national"]},
    )
    g = Gen(1111, spec)
    plan = [("clean", 36), ("ext", 2), ("mobile_only", 4), ("placeholder_mobile", 2), ("missing", 2),
            ("placeholder", 2), ("junk", 1), ("short", 1), ("excel_sci", 1), ("digits_cc", 1), ("idd00", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["Anrede", "Vorname", "Nachname", "Firma", "Position", "Telefon", "Handy", "E-Mail", "Straße", "PLZ",
              "Ort", "Land", "Status", "Bemerkung"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Anrede": rng.choice(["Herr", "Frau", "Herr", ""]), "Vorname": p.first, "Nachname": p.last,
            "Firma": p.company, "Position": rng.choice(["Geschäftsführer", "Einkaufsleiterin", "IT-Leiter", ""]),
            "Telefon": c.phones.get("tel", ""), "Handy": c.phones.get("mobile", ""), "E-Mail": p.email,
            "Straße": rng.choice(["Hauptstraße 5", "Königsallee 12", "", "Müllerstraße 3a"]),
            "PLZ": rng.choice(["10115", "80331", "20095", ""]), "Ort": rng.choice(CITIES[c.region]),
            "Land": c.country_text,
            "Status": rng.choice(["Neu", "Neu", "Kontaktiert", "In Bearbeitung", "Qualifiziert", "Nicht qualifiziert",
                                  "Kein Interesse", ""]),
            "Bemerkung": rng.choice(["", "", "Rückruf erbeten", "Messe Hannover; Interesse an Angebot"]),
        }
        rows.append(Row(cells, ["Telefon", "Handy"], c.read_region, key=key_of(p), note=c.note, intent=c.intent))
        # Excel keeps two touched-but-empty columns at the right: unnamed in the header.
        table.append([cells[h] for h in header] + ["", ""])
    name = "de_excel_kontakte.csv"
    w = write_csv(HERE / name, header + ["", ""], table, delim=";", eol="\r\n", encoding="utf-8", bom=True)
    finish(name, rows, w, product="Microsoft Excel (German)", args=[],
           imitates="Excel (de-DE) › Speichern unter › CSV UTF-8 (Trennzeichen-getrennt), with two empty "
                    "columns at the right that Excel keeps",
           encoding="UTF-8 with BOM", delimiter=";", line_endings="CRLF", skips=[])


def spanish_excel() -> None:
    spec = Spec(
        regions=[("ES", 72), ("MX", 12), ("AR", 8), ("CO", 8)],
        locale=LOCALE, kinds=["tel", "mobile"], default_region=None, empty_country=0.05,
        country={"ES": ["España", "España", "ESPAÑA", "Espana"], "MX": ["México", "Mexico"], "AR": ["Argentina"],
                 "CO": ["Colombia"]},
        intl_styles=("intl", "intl", "idd00"), ext=(" ext. {n}", " ext {n}"),
        placeholders=("-", "N/D", "sin teléfono", "no tiene"), junk=("llamar a centralita", "ver notas"),
        short=("91 234", "6123", "123456"),
    )
    # Argentine and Colombian numbers are written with +CC only (no national styles for
    # them): their national forms (`011 15-...`) are beyond a careful reader's certainty.
    g = Gen(1212, spec)
    plan = [("clean", 32), ("ext", 2), ("mobile_only", 4), ("placeholder_mobile", 1), ("missing", 2),
            ("placeholder", 2), ("junk", 1), ("short", 1), ("idd00", 1)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["Nombre", "Apellidos", "Empresa", "Cargo", "Teléfono", "Móvil", "Correo electrónico", "Dirección",
              "Ciudad", "País", "Estado", "Observaciones"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Nombre": p.first, "Apellidos": p.last, "Empresa": p.company,
            "Cargo": rng.choice(["Gerente", "Director comercial", "Responsable de compras", ""]),
            "Teléfono": c.phones.get("tel", ""), "Móvil": c.phones.get("mobile", ""), "Correo electrónico": p.email,
            "Dirección": rng.choice(["", "C/ Mayor, 3", "Avda. de la Constitución 12, 2º B"]),
            "Ciudad": rng.choice(CITIES[c.region]), "País": c.country_text,
            "Estado": rng.choice(["Nuevo", "Nuevo", "Contactado", "En curso", "Cualificado", "Descartado", "Cliente", ""]),
            "Observaciones": rng.choice(["", "", "Llamar por la mañana", "Interesado en la tarifa anual"]),
        }
        rows.append(Row(cells, ["Teléfono", "Móvil"], c.read_region, key=key_of(p), note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "es_excel_clientes.csv"
    w = write_csv(HERE / name, header, table, delim=";", eol="\r\n", encoding="cp1252")
    finish(name, rows, w, product="Microsoft Excel (Spanish)", args=[],
           imitates="Excel (es-ES) › Guardar como › CSV (delimitado por comas), which writes `;` in Spain",
           encoding="Windows-1252", delimiter=";", line_endings="CRLF", skips=[])


def italian_excel() -> None:
    spec = Spec(
        regions=[("IT", 100)], locale=LOCALE, kinds=["tel", "mobile"], country=None, default_region="IT",
        intl_styles=("intl", "intl", "idd00"), ext=(" int. {n}", " interno {n}"),
        placeholders=("-", "nessuno", "N/A"), junk=("chiedere al centralino",), short=("02 123", "333"),
    )
    g = Gen(1313, spec)
    plan = [("clean", 22), ("ext", 2), ("mobile_only", 3), ("missing", 1), ("placeholder", 1), ("junk", 1)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["Ragione sociale", "Nome", "Cognome", "Telefono", "Cellulare", "Email", "Indirizzo", "CAP", "Città",
              "Provincia", "Stato", "Note"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Ragione sociale": p.company, "Nome": p.first, "Cognome": p.last, "Telefono": c.phones.get("tel", ""),
            "Cellulare": c.phones.get("mobile", ""), "Email": p.email, "Indirizzo": rng.choice(["", "Via Roma 1"]),
            "CAP": rng.choice(["20121", "00184", ""]), "Città": rng.choice(CITIES["IT"]),
            "Provincia": rng.choice(["MI", "RM"]),
            "Stato": rng.choice(["Nuovo", "Contattato", "Da richiamare", "Qualificato", "Non interessato", ""]),
            "Note": rng.choice(["", "", "Richiamare lunedì"]),
        }
        rows.append(Row(cells, ["Telefono", "Cellulare"], c.read_region, key=key_of(p), note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "it_excel_contatti.csv"
    w = write_csv(HERE / name, header, table, delim=";", eol="\r\n", encoding="cp1252")
    finish(name, rows, w, product="Microsoft Excel (Italian)", args=["--default-region", "IT"],
           imitates="Excel (it-IT) › Salva con nome › CSV (delimitato dal separatore di elenco)",
           encoding="Windows-1252", delimiter=";", line_endings="CRLF", skips=[])


def dutch_excel() -> None:
    spec = Spec(
        regions=[("NL", 90), ("BE", 10)], locale=LOCALE, kinds=["tel", "mobile"], country=None, default_region="NL",
        intl_styles=("intl", "intl", "idd00"), ext=(" tst. {n}", " toestel {n}"),
        placeholders=("-", "n.v.t.", "onbekend"), junk=("bel receptie",), short=("020-123", "06"),
    )
    g = Gen(1414, spec)
    plan = [("clean", 22), ("ext", 1), ("mobile_only", 3), ("missing", 1), ("placeholder", 2), ("short", 1)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["Bedrijfsnaam", "Voornaam", "Achternaam", "Telefoon", "Mobiel", "E-mailadres", "Adres", "Postcode",
              "Plaats", "Status", "Opmerkingen"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Bedrijfsnaam": p.company, "Voornaam": p.first, "Achternaam": p.last, "Telefoon": c.phones.get("tel", ""),
            "Mobiel": c.phones.get("mobile", ""), "E-mailadres": p.email, "Adres": rng.choice(["", "Keizersgracht 1"]),
            "Postcode": rng.choice(["1015 CJ", ""]), "Plaats": rng.choice(CITIES[c.region]),
            "Status": rng.choice(["Nieuw", "Gebeld", "Terugbellen", "Gekwalificeerd", "Geen interesse", ""]),
            "Opmerkingen": rng.choice(["", "", "Na 14:00 bellen"]),
        }
        rows.append(Row(cells, ["Telefoon", "Mobiel"], c.read_region, key=key_of(p), note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "nl_excel_relaties.csv"
    w = write_csv(HERE / name, header, table, delim=";", eol="\r\n", encoding="utf-8", bom=True)
    finish(name, rows, w, product="Microsoft Excel (Dutch)", args=["--default-region", "NL"],
           imitates="Excel (nl-NL) › Opslaan als › CSV UTF-8 (door komma's gescheiden), which writes `;`",
           encoding="UTF-8 with BOM", delimiter=";", line_endings="CRLF", skips=[])


def workbook() -> None:
    import openpyxl

    spec = Spec(
        regions=[("GB", 60), ("DE", 15), ("FR", 10), ("US", 10), ("NL", 5)],
        locale=LOCALE, kinds=["phone", "mobile"], default_region=None, empty_country=0.0,
        country={"GB": ["UK", "United Kingdom", "England"], "DE": ["Germany"], "FR": ["France"], "US": ["USA"],
                 "NL": ["Netherlands"]},
    )
    g = Gen(1515, spec)
    plan = [("clean", 28), ("mobile_only", 3), ("ext", 1), ("missing", 2), ("placeholder", 1), ("short", 1),
            ("digits_cc", 3), ("nozero", 2)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    # Phones Excel users type as numbers: the cell holds a number, not text.
    for c in contacts:
        for kind, text in list(c.phones.items()):
            if isinstance(text, str) and text.isdigit() and not text.startswith("0"):
                c.phones[kind] = int(text)
    header = ["Name", "Company", "Job title", "Phone", "Mobile", "Email", "Country", "Status", "Notes"]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws["A1"] = "Trade show leads – ExCeL London, March 2024"
    ws.merge_cells("A1:I1")
    ws.append([])
    ws.append(header)
    rows = []
    lines = []
    for c in contacts:
        p = c.person
        cells = {
            "Name": f"{p.first} {p.last}", "Company": p.company, "Job title": rng.choice(["Buyer", "MD", "Ops lead", None]),
            "Phone": c.phones.get("phone"), "Mobile": c.phones.get("mobile"), "Email": p.email,
            "Country": c.country_text,
            "Status": rng.choice(["New", "New", "Contacted", "Follow up", "Qualified", "Not interested"]),
            "Notes": rng.choice([None, None, "Wants pricing", "Call back w/c 8 April"]),
        }
        ws.append([cells[h] for h in header])
        lines.append(ws.max_row)
        rows.append(Row(cells, ["Phone", "Mobile"], c.read_region, key=key_of(p), note=c.note, intent=c.intent))
    for col, width in zip("ABCDEFGHI", [22, 24, 14, 18, 18, 32, 14, 14, 24]):
        ws.column_dimensions[col].width = width
    lists = wb.create_sheet("Lists")
    for s in ["New", "Contacted", "Follow up", "Qualified", "Not interested"]:
        lists.append([s])
    # Fixed document properties, so that the file's bytes do not change from run to run.
    stamp = datetime.datetime(2024, 3, 18, 9, 42)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "Events team"
    name = "uk_events_leads.xlsx"
    save_reproducibly(wb, HERE / name, stamp)
    w = Written(3, lines, [1, 2], [])
    finish(name, rows, w, product="Microsoft Excel workbook", args=[],
           imitates="an .xlsx kept by hand: title in A1 (merged), an empty row, the header in row 3, phones "
                    "typed as numbers in some cells, a second sheet",
           encoding="XLSX", delimiter="", line_endings="",
           skips=[(1, "title_row", "sheet row 1: the title"), (2, "blank_row", "sheet row 2: empty")])


def save_reproducibly(wb, path: pathlib.Path, stamp: datetime.datetime) -> None:
    """Saves a workbook with fixed times inside (openpyxl stamps `modified` with the time of
    saving, and zip entries with the clock), so that the same run writes the same bytes."""
    import re
    import zipfile

    buffer = io.BytesIO()
    wb.save(buffer)
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + iso.encode(), data)
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(entry, data)


def main() -> None:
    hubspot()
    salesforce_report()
    salesforce_data_export()
    pipedrive()
    zoho()
    google_contacts()
    google_contacts_legacy()
    outlook()
    mailchimp()
    french_excel()
    german_excel()
    spanish_excel()
    italian_excel()
    dutch_excel()
    workbook()
    import holdout  # the holdout set: products and variants the importer was not improved against

    holdout.main(sys.modules[__name__])
    write_manifest()
    total = sum(m["data_rows"] for m in MANIFEST)
    importable = sum(m["importable"] for m in MANIFEST)
    print(f"{len(MANIFEST)} files, {total} data rows, {importable} importable")
    for m in MANIFEST:
        print(f"  {m['file']:32} {m['data_rows']:4} rows {m['importable']:4} importable")
    assert pn  # the checks above ran through phonenumbers


if __name__ == "__main__":
    main()
