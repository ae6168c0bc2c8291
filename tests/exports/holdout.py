"""The holdout set of the export corpus: products and variants the importer was NOT improved
against, built the same way and to the same standard as `generate.py`'s files (which call
this module last), so that the corpus stays an independent measure of the importer.

    python3 tests/exports/generate.py     # writes both sets, and manifest.toml

Every expectation is decided twice, as in `generate.py`: by the scenario that built the row,
and by `corpus.read_cell` from the cell as written (through `phonenumbers`). Where the
careful reader needs to know a product's convention (Brevo's `SMS` holds the country code
without `+`), the row's oracle cells say so and the note names it; the file keeps the bytes
the product writes. Where each format comes from, and how sure it is: README.md.
"""

from __future__ import annotations

import datetime
import gzip
import io
import random
import re
import uuid
import zipfile
from types import ModuleType

import phonenumbers as pn

from corpus import EXTENSION, Row, read_cell

G: ModuleType  # generate.py, as it runs (its MANIFEST, Spec, Gen, writers)

HOLDOUT = "holdout"

LOCALE = {"US": "en", "CA": "en", "GB": "gb", "AU": "gb", "IE": "gb", "DE": "de", "AT": "de", "CH": "de",
          "FR": "fr", "BE": "fr", "ES": "es", "MX": "es", "IT": "it", "NL": "nl", "IN": "in", "AE": "in",
          "BR": "br", "PT": "pt", "PL": "pl", "SE": "sv"}

CITIES = {"SE": ["Stockholm", "Göteborg", "Malmö"], "PL": ["Warszawa", "Kraków", "Wrocław", "Gdańsk"], "BR": ["São Paulo", "Rio de Janeiro", "Belo Horizonte"],
          "PT": ["Lisboa", "Porto"]}


def city(rng: random.Random, region: str) -> str:
    return rng.choice(CITIES.get(region) or G.CITIES[region])


def finish(name: str, rows: list[Row], written, **kw) -> None:
    G.finish(name, rows, written, set_name=HOLDOUT, **kw)


def e164_of(text: str, region: str) -> str | None:
    cell = read_cell(text, region)
    return cell.e164 if cell.state == "ok" else None


def plain_number(text: object, region: str) -> bool:
    """A cell that is just one valid number (no extension, no second number, no placeholder)."""
    if not isinstance(text, str) or not text:
        return False
    if EXTENSION.search(text) or re.search(r"[,;/]|:::", text.replace(" / ", ";")):
        return False
    return e164_of(text, region) is not None and not re.search(r"[A-Za-z]", text)


def hex_id(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def move_kind(c, src: str, dst: str) -> None:
    c.phones[dst] = c.phones.pop(src)


# ---------------------------------------------------------------------------------------
# CRM and marketing exports.
# ---------------------------------------------------------------------------------------

HS_COUNTRY = {
    "US": ["United States", "United States", "USA", "United States of America", "UNITED STATES", "usa"],
    "GB": ["United Kingdom", "U.K.", "UK", "England"], "CA": ["Canada"],
    "NL": ["Netherlands", "The Netherlands", "Holland"], "DE": ["Germany", "Deutschland"],
    "AU": ["Australia"], "FR": ["France"], "IN": ["India"],
}


def hubspot_2024() -> None:
    """HubSpot's current contact export: sentence-case property labels, a WhatsApp number,
    a fax number, country values as web forms collect them."""
    spec = G.Spec(
        regions=[("US", 50), ("GB", 12), ("CA", 8), ("NL", 8), ("DE", 6), ("AU", 6), ("FR", 5), ("IN", 5)],
        locale=LOCALE, kinds=["phone", "mobile"], country=HS_COUNTRY, default_region=None, empty_country=0.1,
        intl_styles=("intl", "intl", "e164"), extra_styles={"US": ["us_intl_paren", "us_intl_paren"]},
    )
    g = G.Gen(2101, spec)
    plan = [("clean", 40), ("ext", 2), ("mobile_only", 6), ("placeholder_mobile", 2), ("bad_mobile", 1),
            ("missing", 4), ("placeholder", 2), ("junk", 1), ("short", 1), ("unknown_country", 1)]
    contacts = g.run(plan, dups=3)
    rng = g.rng
    # Two contacts whose only number is their WhatsApp number (the property HubSpot's
    # WhatsApp integration fills): a phone of the person, imported.
    mobiles = [c for c in contacts if c.note == "mobile only"]
    for c in mobiles[:2]:
        move_kind(c, "mobile", "whatsapp")
        c.note = "only a WhatsApp number"
    # One contact whose only number is a fax: not a phone to call.
    fax_only = next(c for i, c in enumerate(contacts) if i > 20 and c.intent[0] == "import"
                    and set(c.phones) == {"phone"} and c.note == "")
    move_kind(fax_only, "phone", "fax")
    fax_only.intent, fax_only.note = ("reject", "missing_phone"), "only a fax number"
    header = ["Record ID", "First name", "Last name", "Email", "Phone number", "Mobile phone number",
              "WhatsApp phone number", "Fax number", "Company name", "Job title", "Country/Region", "City",
              "Lifecycle stage", "Lead status", "Contact owner", "Create date", "Last activity date",
              "Marketing contact status"]
    rows, table = [], []
    for c in contacts:
        rid = str(rng.randrange(50_000_000_000, 99_999_999_999))
        p = c.person
        created = G.dt(rng, start=datetime.datetime(2023, 2, 1))
        cells = {
            "Record ID": rid, "First name": p.first, "Last name": p.last, "Email": p.email,
            "Phone number": c.phones.get("phone", ""), "Mobile phone number": c.phones.get("mobile", ""),
            "WhatsApp phone number": c.phones.get("whatsapp", ""), "Fax number": c.phones.get("fax", ""),
            "Company name": p.company,
            "Job title": rng.choice(["Head of Sales", "Operations Manager", "Founder", "Procurement Lead", ""]),
            "Country/Region": c.country_text, "City": city(rng, c.region) if c.country_text else "",
            "Lifecycle stage": rng.choice(["Lead", "Lead", "Marketing qualified lead", "Sales qualified lead",
                                           "Opportunity", "Subscriber", "Other"]),
            "Lead status": rng.choice(["New", "Open", "In progress", "Open deal", "Unqualified",
                                       "Attempted to contact", "Connected", "Bad timing", ""]),
            "Contact owner": rng.choice(["Jordan Blake", "Aisha Khan", "Tom Becker", ""]),
            "Create date": created.strftime("%Y-%m-%d %H:%M"),
            "Last activity date": (created + datetime.timedelta(days=rng.randrange(1, 60))).strftime("%Y-%m-%d %H:%M")
            if rng.random() < 0.5 else "",
            "Marketing contact status": rng.choice(["Marketing contact", "Non-marketing contact"]),
        }
        rows.append(Row(cells, ["Phone number", "Mobile phone number", "WhatsApp phone number"], c.read_region,
                        lead_id=rid, key=p.email, note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "hubspot_contacts_2024.csv"
    w = G.write_csv(G.HERE / name, header, table)
    finish(name, rows, w, product="HubSpot", args=[],
           imitates="HubSpot › CRM › Contacts › Export › CSV (2024 labels: `Phone number`, `Mobile phone number`, "
                    "`WhatsApp phone number`, `Fax number`)",
           encoding="UTF-8", delimiter=",", line_endings="LF", skips=[])


def salesforce_contacts_report() -> None:
    """A Salesforce Contacts & Accounts report, exported in ISO-8859-1 (the encoding the
    export screen offers first to a Western-European user), with the report footer."""
    spec = G.Spec(
        regions=[("US", 45), ("CA", 8), ("GB", 12), ("DE", 10), ("FR", 10), ("ES", 8), ("IT", 7)],
        locale=LOCALE, kinds=["phone", "mobile", "home", "other"], default_region=None, empty_country=0.08,
        country={"US": ["USA", "United States", "US"], "CA": ["Canada"], "GB": ["UK", "United Kingdom"],
                 "DE": ["Germany", "Deutschland"], "FR": ["France"], "ES": ["Spain", "España"], "IT": ["Italy"]},
        ext=(" x{n}", " ext. {n}"), intl_styles=("intl", "intl", "e164"),
    )
    g = G.Gen(2202, spec)
    plan = [("clean", 36), ("ext", 2), ("mobile_only", 4), ("placeholder_mobile", 1), ("bad_mobile", 1),
            ("missing", 3), ("placeholder", 1), ("junk", 1), ("short", 1), ("unknown_country", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    # Some contacts keep their number under Home Phone or Other Phone only.
    moved = 0
    for c in contacts:
        if moved < 3 and c.intent[0] == "import" and set(c.phones) == {"phone"} and c.note == "":
            move_kind(c, "phone", "home" if moved % 2 == 0 else "other")
            c.note = "only a home or other phone"
            moved += 1
    header = ["Contact ID", "Contact Owner", "Salutation", "First Name", "Last Name", "Title", "Account Name",
              "Phone", "Mobile", "Home Phone", "Other Phone", "Fax", "Email", "Mailing City",
              "Mailing State/Province", "Mailing Country", "Lead Source", "Created Date"]
    rows, table = [], []
    for c in contacts:
        cid = G.sf_id(rng, "003", eighteen=False)
        p = c.person
        cells = {
            "Contact ID": cid, "Contact Owner": rng.choice(["Dana Whitfield", "Marcus Reed", "Élodie Marchand"]),
            "Salutation": rng.choice(["Mr.", "Ms.", "Mrs.", "Dr.", ""]), "First Name": p.first, "Last Name": p.last,
            "Title": rng.choice(["Director of IT", "Head of Purchasing", "CEO", "Office Manager", ""]),
            "Account Name": p.company, "Phone": c.phones.get("phone", ""), "Mobile": c.phones.get("mobile", ""),
            "Home Phone": c.phones.get("home", ""), "Other Phone": c.phones.get("other", ""),
            "Fax": "", "Email": p.email,
            "Mailing City": city(rng, c.region) if c.country_text else "",
            "Mailing State/Province": rng.choice(G.US_STATES)[0] if c.region == "US" and c.country_text else "",
            "Mailing Country": c.country_text,
            "Lead Source": rng.choice(["Web", "Phone Inquiry", "Partner Referral", "Trade Show", "Other", ""]),
            "Created Date": G.dt(rng).strftime("%-m/%-d/%Y"),
        }
        rows.append(Row(cells, ["Phone", "Mobile", "Home Phone", "Other Phone"], c.read_region, lead_id=cid,
                        key=p.email, note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    footer = ["", '"Contacts & Accounts - EMEA and North America"',
              '"Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved."',
              '"Confidential Information - Do Not Distribute"',
              '"Generated By:  Marcus Reed  2/11/2025 4:07 PM"', '"Northwind Traders, Inc."']
    name = "salesforce_contacts_report.csv"
    w = G.write_csv(G.HERE / name, header, table, quote="all", encoding="latin-1", after=footer)
    skips = G.salesforce_footer_skips(w)
    finish(name, rows, w, product="Salesforce", args=[],
           imitates="Salesforce › Reports › Contacts & Accounts › Export › Details Only, .csv, ISO-8859-1",
           encoding="ISO-8859-1", delimiter=",", line_endings="LF", skips=skips)


def close_leads() -> None:
    """Close's lead export: snake_case columns, one row per lead with its primary contact,
    numbers stored in E.164 by Close, other numbers joined in one cell, ISO country codes."""
    spec = G.Spec(
        regions=[("US", 66), ("CA", 8), ("GB", 12), ("AU", 7), ("DE", 7)],
        locale=LOCALE, kinds=["primary", "other"], default_region=None, empty_country=0.2,
        country={"US": ["US"], "CA": ["CA"], "GB": ["GB"], "AU": ["AU"], "DE": ["DE"]},
        junk=("call front desk", "see notes"), short=("12345", "555-01"),
    )
    g = G.Gen(2303, spec)
    plan = [("clean", 36), ("multi", 2), ("mobile_only", 4), ("bad_mobile", 1), ("missing", 6), ("junk", 1),
            ("short", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    for c in contacts:
        # Close lists a contact's numbers from the first: a lone second number is the primary.
        if "primary" not in c.phones and "other" in c.phones:
            move_kind(c, "other", "primary")
        # Close stores a number it understands in E.164 (read in the organisation's country).
        for kind, text in list(c.phones.items()):
            if plain_number(text, c.read_region):
                c.phones[kind] = e164_of(text, c.read_region)
        # A second number of the contact, joined with ", " as Close writes several.
        if c.intent[0] == "import" and "other" not in c.phones and rng.random() < 0.2:
            c.phones["other"] = G.fmt(g.numbers.take(c.region, "mobile"), "e164")
    header = ["id", "display_name", "status_label", "primary_contact_name", "primary_contact_title",
              "primary_contact_primary_phone", "primary_contact_primary_phone_type", "primary_contact_other_phones",
              "primary_contact_primary_email", "primary_contact_other_emails", "address_1_address_1",
              "address_1_city", "address_1_state", "address_1_zip", "address_1_country", "description", "url",
              "html_url", "date_created", "date_updated", "created_by_name", "custom.Lead Source"]
    rows, table = [], []
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for c in contacts:
        lid = "lead_" + "".join(rng.choice(alphabet) for _ in range(43))
        p = c.person
        created = G.dt(rng)
        cells = {
            "id": lid, "display_name": p.company, "status_label": rng.choice(
                ["Potential", "Potential", "Interested", "Qualified", "Bad Fit", "Not Interested", "Customer"]),
            "primary_contact_name": f"{p.first} {p.last}",
            "primary_contact_title": rng.choice(["CEO", "VP Sales", "Office Manager", ""]),
            "primary_contact_primary_phone": c.phones.get("primary", ""),
            "primary_contact_primary_phone_type": (rng.choice(["office", "direct", "mobile"])
                                                   if c.phones.get("primary") else ""),
            "primary_contact_other_phones": c.phones.get("other", ""),
            "primary_contact_primary_email": p.email, "primary_contact_other_emails": "",
            "address_1_address_1": rng.choice(["", "1600 Amphitheatre Pkwy", "10 Market St"]) if c.country_text else "",
            "address_1_city": city(rng, c.region) if c.country_text else "",
            "address_1_state": rng.choice(G.US_STATES)[0] if c.region == "US" and c.country_text else "",
            "address_1_zip": "", "address_1_country": c.country_text,
            "description": rng.choice(["", "", "Inbound demo request", "Referred by Acme, wants pricing"]),
            "url": "", "html_url": f"https://app.close.com/lead/{lid}/",
            "date_created": created.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
            "date_updated": (created + datetime.timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
            "created_by_name": rng.choice(["Sam Ortiz", "Nina Park"]),
            "custom.Lead Source": rng.choice(["Website", "Outbound", "Referral", ""]),
        }
        rows.append(Row(cells, ["primary_contact_primary_phone", "primary_contact_other_phones"], c.read_region,
                        lead_id=lid, key=p.email, note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "close_leads.csv"
    w = G.write_csv(G.HERE / name, header, table)
    finish(name, rows, w, product="Close", args=[],
           imitates="Close › Leads › (a Smart View) › Export › CSV, leads with their primary contact",
           encoding="UTF-8", delimiter=",", line_endings="LF", skips=[])


APOLLO_HEADER = [
    "First Name", "Last Name", "Title", "Company Name", "Company Name for Emails", "Email", "Email Status",
    "Primary Email Source", "Email Confidence", "Primary Email Catch-all Status", "Primary Email Last Verified At",
    "Seniority", "Departments", "Contact Owner", "Work Direct Phone", "Home Phone", "Mobile Phone", "Corporate Phone",
    "Other Phone", "Stage", "Lists", "Last Contacted", "Account Owner", "# Employees", "Industry", "Keywords",
    "Person Linkedin Url", "Website", "Company Linkedin Url", "Facebook Url", "Twitter Url", "City", "State",
    "Country", "Company Address", "Company City", "Company State", "Company Country", "Company Phone",
    "Technologies", "Annual Revenue", "Total Funding", "Latest Funding", "Latest Funding Amount", "Last Raised At",
    "Email Sent", "Email Open", "Email Bounced", "Replied", "Demoed", "Number of Retail Locations",
    "Apollo Contact Id", "Apollo Account Id",
]


def apollo_people() -> None:
    """Apollo's people export: five phone columns, each number written `'+1 650-253-0000`
    (a leading apostrophe so that Excel keeps the `+`), a company switchboard as `Corporate
    Phone` shared by colleagues."""
    spec = G.Spec(
        regions=[("US", 60), ("GB", 10), ("DE", 8), ("FR", 6), ("IN", 8), ("CA", 8)],
        locale=LOCALE, kinds=["direct", "mobile"], default_region=None, empty_country=0.05,
        country={"US": ["United States"], "GB": ["United Kingdom"], "DE": ["Germany"], "FR": ["France"],
                 "IN": ["India"], "CA": ["Canada"]},
        intl_styles=("intl",), ext=(" ext. {n}",),
    )
    g = G.Gen(2404, spec)
    plan = [("clean", 34), ("ext", 2), ("mobile_only", 8), ("missing", 6)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    # Apollo writes every number in international format: the national forms the scenarios
    # chose become `+CC …`.
    for c in contacts:
        for kind, text in list(c.phones.items()):
            e = e164_of(text, c.read_region)
            if e and plain_number(text, c.read_region):
                c.phones[kind] = G.fmt(e, "intl")
            elif e:
                m = EXTENSION.search(text)
                c.phones[kind] = G.fmt(e, "intl") + (m.group(0) if m else "")
    # A company switchboard beside some direct numbers.
    for c in contacts:
        if "direct" in c.phones and rng.random() < 0.25:
            c.phones["corporate"] = G.fmt(g.numbers.take(c.region, "fixed"), "intl")
    # Two colleagues of one company with only the switchboard: the first is imported, the
    # second is the same phone (a lead with that phone exists): a duplicate.
    pair = [c for c in contacts if c.intent[0] == "import" and set(c.phones) == {"direct"} and c.region == "US"][:2]
    board = g.numbers.take("US", "fixed")
    for c in pair:
        c.phones = {"corporate": G.fmt(board, "intl")}
        c.person.company = pair[0].person.company
        c.intent, c.note = ("import", board), "only the company switchboard (Corporate Phone)"
    header = APOLLO_HEADER
    rows, table = [], []
    accounts: dict[str, str] = {}
    for c in contacts:
        p = c.person
        aid = accounts.setdefault(p.company, hex_id(rng, 24))
        cid = hex_id(rng, 24)
        cells = {h: "" for h in header}
        cells.update({
            "First Name": p.first, "Last Name": p.last,
            "Title": rng.choice(["VP of Sales", "Head of Growth", "Procurement Manager", "CTO", "Founder & CEO"]),
            "Company Name": p.company, "Company Name for Emails": p.company.replace(" Inc.", "").replace(" Ltd", ""),
            "Email": p.email, "Email Status": rng.choice(["Verified", "Verified", "Extrapolated", "Unavailable"]),
            "Primary Email Source": "Apollo", "Email Confidence": "",
            "Primary Email Catch-all Status": rng.choice(["Not Catch-all", "Catch-all", ""]),
            "Seniority": rng.choice(["Vp", "Head", "Manager", "C suite", "Founder"]),
            "Departments": rng.choice(["Sales", "Operations", "Engineering & Technical", "Master Sales"]),
            "Contact Owner": rng.choice(["alex@ourcompany.com", ""]),
            "Stage": rng.choice(["Cold", "Cold", "Approaching", "Replied", "Interested", "Not Interested",
                                 "Unresponsive", "Do Not Contact", "Bad Data", "Changed Job"]),
            "Lists": rng.choice(["Q3 Outbound", "Q3 Outbound, Webinar follow-up", ""]),
            "# Employees": str(rng.choice([12, 48, 230, 1200, 15000])),
            "Industry": rng.choice(["information technology & services", "logistics & supply chain", "retail"]),
            "Keywords": rng.choice(["saas, b2b, crm", "logistics, freight", ""]),
            "Person Linkedin Url": f"http://www.linkedin.com/in/{p.first.lower()}-{p.last.lower()}-{hex_id(rng, 6)}"
            .replace(" ", "").replace("'", ""),
            "Website": "", "City": city(rng, c.region) if c.country_text else "",
            "Country": c.country_text, "Company Country": c.country_text,
            "Work Direct Phone": c.phones.get("direct", ""), "Mobile Phone": c.phones.get("mobile", ""),
            "Corporate Phone": c.phones.get("corporate", ""), "Home Phone": "", "Other Phone": "",
            "Email Sent": rng.choice(["true", "false"]), "Email Open": "false", "Email Bounced": "false",
            "Replied": "false", "Demoed": "false", "Apollo Contact Id": cid, "Apollo Account Id": aid,
        })
        cells["Company Phone"] = cells["Corporate Phone"]
        oracle = dict(cells)
        # Apollo's apostrophe before every number, in the file.
        for h in ("Work Direct Phone", "Mobile Phone", "Corporate Phone", "Company Phone"):
            if cells[h]:
                cells[h] = "'" + cells[h]
                oracle[h] = cells[h]
        rows.append(Row(oracle, ["Work Direct Phone", "Mobile Phone", "Corporate Phone", "Home Phone", "Other Phone"],
                        c.read_region, lead_id=cid, key=p.email, note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "apollo_people.csv"
    w = G.write_csv(G.HERE / name, header, table)
    finish(name, rows, w, product="Apollo.io", args=[],
           imitates="Apollo › People › (a saved list) › Export › CSV, all fields",
           encoding="UTF-8", delimiter=",", line_endings="LF", skips=[])


def keap_contacts() -> None:
    """Keap (Infusionsoft) contacts export: `Phone 1`/`Phone 2` with their own type and
    extension columns (the extension is never in the number's cell)."""
    spec = G.Spec(
        regions=[("US", 78), ("CA", 10), ("GB", 6), ("AU", 6)],
        locale=LOCALE, kinds=["p1", "p2"], default_region=None, empty_country=0.25,
        country={"US": ["United States"], "CA": ["Canada"], "GB": ["United Kingdom"], "AU": ["Australia"]},
        ext=(" x{n}",), mobile_share=0.3,
    )
    g = G.Gen(2505, spec)
    plan = [("clean", 32), ("ext", 4), ("mobile_only", 3), ("missing", 4), ("short", 1), ("junk", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["Id", "First Name", "Last Name", "Company", "Job Title", "Email", "Phone 1", "Phone 1 Ext",
              "Phone 1 Type", "Phone 2", "Phone 2 Ext", "Phone 2 Type", "Street Address 1", "City", "State",
              "Postal Code", "Country", "Lead Source", "Tags", "Person Type", "Owner", "Date Created", "Last Updated"]
    rows, table = [], []
    kid = 2000
    for c in contacts:
        kid += rng.randrange(1, 25)
        p = c.person
        p1, p2 = c.phones.get("p1", ""), c.phones.get("p2", "")
        if not p1 and p2:
            p1, p2 = p2, ""
        ext1 = ""
        m = EXTENSION.search(p1) if p1 else None
        if m:
            p1, ext1 = p1[: m.start()], re.sub(r"\D", "", m.group(0))
        created = G.dt(rng)
        cells = {
            "Id": str(kid), "First Name": p.first, "Last Name": p.last, "Company": p.company,
            "Job Title": rng.choice(["Owner", "Office Manager", "Realtor", ""]), "Email": p.email,
            "Phone 1": p1, "Phone 1 Ext": ext1, "Phone 1 Type": rng.choice(["Work", "Work", "Mobile", "Home"]) if p1 else "",
            "Phone 2": p2, "Phone 2 Ext": "", "Phone 2 Type": "Mobile" if p2 else "",
            "Street Address 1": rng.choice(["", "42 Elm St", "9 Harbour Rd"]) if c.country_text else "",
            "City": city(rng, c.region) if c.country_text else "",
            "State": rng.choice(G.US_STATES)[0] if c.region == "US" and c.country_text else "",
            "Postal Code": "", "Country": c.country_text,
            "Lead Source": rng.choice(["Website Opt-in", "Referral", "Facebook Ad", ""]),
            "Tags": rng.choice(["", "Newsletter", "Lead Magnet - Checklist,Newsletter", "Hot Lead"]),
            "Person Type": rng.choice(["Prospect", "Prospect", "Customer", "Partner"]),
            "Owner": rng.choice(["Kim Alvarez", ""]), "Date Created": created.strftime("%m/%d/%Y %I:%M %p"),
            "Last Updated": (created + datetime.timedelta(days=9)).strftime("%m/%d/%Y %I:%M %p"),
        }
        if ext1:
            c.note = "extension in its own column"
        rows.append(Row(cells, ["Phone 1", "Phone 2"], c.read_region, lead_id=str(kid), key=p.email, note=c.note,
                        either=True, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "keap_contacts.csv"
    w = G.write_csv(G.HERE / name, header, table, eol="\r\n")
    finish(name, rows, w, product="Keap (Infusionsoft)", args=[],
           imitates="Keap › Contacts › (select all) › Actions › Export › CSV, all fields",
           encoding="UTF-8", delimiter=",", line_endings="CRLF", skips=[])


def brevo_contacts() -> None:
    """Brevo (Sendinblue) contacts export of a French account: attribute names as headers
    (`NOM`, `PRENOM` in a French account), `;`, `SMS`/`WHATSAPP` holding the number with its
    country code and no `+`, `LANDLINE_NUMBER` in E.164."""
    spec = G.Spec(
        regions=[("FR", 78), ("BE", 8), ("CH", 7), ("GB", 7)],
        locale=LOCALE, kinds=["landline", "sms"], country=None, default_region="FR", mobile_share=0.4,
    )
    g = G.Gen(2606, spec)
    plan = [("clean", 18), ("mobile_only", 18), ("missing", 10)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["EMAIL", "NOM", "PRENOM", "SMS", "LANDLINE_NUMBER", "WHATSAPP", "SOCIETE", "VILLE", "ADDED_TIME",
              "MODIFIED_TIME"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        oracle_phones: dict[str, str] = {}
        filed: dict[str, str] = {}
        for kind, text in c.phones.items():
            e = e164_of(text, c.read_region) if c.read_region == c.region else e164_of(text, c.region)
            assert e, (text, c.region)
            filed[kind] = e if kind == "landline" else e[1:]
            oracle_phones[kind] = e
        note = c.note
        if "sms" in filed:
            note = (note + "; " if note else "") + "Brevo's SMS holds the country code without +"
        whatsapp = filed.get("sms", "") if rng.random() < 0.3 else ""
        added = G.dt(rng, start=datetime.datetime(2021, 5, 1))
        cells = {
            "EMAIL": p.email, "NOM": p.last.upper() if rng.random() < 0.2 else p.last, "PRENOM": p.first,
            "SMS": filed.get("sms", ""), "LANDLINE_NUMBER": filed.get("landline", ""), "WHATSAPP": whatsapp,
            "SOCIETE": p.company, "VILLE": city(rng, c.region),
            "ADDED_TIME": added.strftime("%Y-%m-%d %H:%M:%S"),
            "MODIFIED_TIME": (added + datetime.timedelta(days=rng.randrange(1, 300))).strftime("%Y-%m-%d %H:%M:%S"),
        }
        oracle = dict(cells)
        oracle.update({"SMS": oracle_phones.get("sms", ""), "LANDLINE_NUMBER": oracle_phones.get("landline", ""),
                       "WHATSAPP": oracle_phones.get("sms", "") if whatsapp else ""})
        rows.append(Row(oracle, ["LANDLINE_NUMBER", "SMS", "WHATSAPP"], c.read_region, key=p.email, note=note,
                        intent=c.intent))
        table.append([cells[h] for h in header])
    name = "brevo_contacts.csv"
    w = G.write_csv(G.HERE / name, header, table, delim=";")
    finish(name, rows, w, product="Brevo (Sendinblue)", args=["--default-region", "FR"],
           imitates="Brevo › Contacts › (all contacts) › Export contacts › CSV (a French account)",
           encoding="UTF-8", delimiter=";", line_endings="LF", skips=[])


def bigquery_gz() -> None:
    """Leads exported from a warehouse table (BigQuery › Export › CSV, GZIP): snake_case
    columns, numbers as web forms collected them, ISO country codes in any case."""
    spec = G.Spec(
        regions=[("US", 55), ("GB", 12), ("DE", 10), ("FR", 10), ("ES", 8), ("MX", 5)],
        locale=LOCALE, kinds=["phone", "mobile"], default_region=None, empty_country=0.1,
        country={"US": ["US", "us"], "GB": ["GB", "gb"], "DE": ["DE"], "FR": ["FR", "fr"], "ES": ["ES"], "MX": ["MX"]},
        intl_styles=("intl", "e164", "e164", "cc_dash"), placeholders=("N/A", "none", "-", "0"),
        junk=("asdf", "test"), short=("123", "555-0100"),
    )
    g = G.Gen(2707, spec)
    plan = [("clean", 44), ("ext", 2), ("mobile_only", 6), ("placeholder_mobile", 2), ("missing", 3),
            ("placeholder", 2), ("junk", 2), ("short", 1), ("unknown_country", 1)]
    contacts = g.run(plan, dups=3)
    rng = g.rng
    header = ["lead_id", "first_name", "last_name", "email", "phone", "mobile_phone", "company", "country_code",
              "status", "source", "utm_campaign", "created_at", "updated_at"]
    rows, table = [], []
    n = 5000
    for c in contacts:
        n += rng.randrange(1, 30)
        lid = f"L-{n:07d}"
        p = c.person
        created = G.dt(rng, start=datetime.datetime(2024, 1, 2))
        cells = {
            "lead_id": lid, "first_name": p.first, "last_name": p.last, "email": p.email,
            "phone": c.phones.get("phone", ""), "mobile_phone": c.phones.get("mobile", ""), "company": p.company,
            "country_code": c.country_text,
            "status": rng.choice(["NEW", "NEW", "WORKING", "NURTURING", "UNQUALIFIED", "CONVERTED"]),
            "source": rng.choice(["webform", "webinar", "paid_social", "partner"]),
            "utm_campaign": rng.choice(["", "spring_promo", "brand_search"]),
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "updated_at": (created + datetime.timedelta(hours=rng.randrange(1, 400))).strftime("%Y-%m-%d %H:%M:%S UTC"),
        }
        rows.append(Row(cells, ["phone", "mobile_phone"], c.read_region, lead_id=lid, key=p.email, note=c.note,
                        intent=c.intent))
        table.append([cells[h] for h in header])
    name = "bigquery_leads.csv.gz"
    plain = G.HERE / "bigquery_leads.csv.tmp"
    w = G.write_csv(plain, header, table)
    data = plain.read_bytes()
    plain.unlink()
    buf = io.BytesIO()
    # No name and a zero time in the gzip header, so that a rerun writes the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as z:
        z.write(data)
    (G.HERE / name).write_bytes(buf.getvalue())
    finish(name, rows, w, product="BigQuery", args=[],
           imitates="BigQuery › a leads table › Export › Export to GCS › CSV, compression GZIP "
                    "(`bq extract --compression GZIP`)",
           encoding="UTF-8 (gzip)", delimiter=",", line_endings="LF", skips=[])


# ---------------------------------------------------------------------------------------
# Workbooks.
# ---------------------------------------------------------------------------------------


def dynamics_leads() -> None:
    """Dynamics 365 Sales › Leads › Export to Excel: the three hidden `(Do Not Modify)`
    columns first (the lead's GUID, a row checksum, the modified time), the view's columns,
    a hidden second sheet, phones as text."""
    import openpyxl
    from openpyxl.worksheet.table import Table, TableStyleInfo

    spec = G.Spec(
        regions=[("US", 55), ("GB", 15), ("DE", 10), ("FR", 8), ("NL", 6), ("CA", 6)],
        locale=LOCALE, kinds=["business", "mobile"], default_region=None, empty_country=0.12,
        country={"US": ["United States", "U.S.", "USA"], "GB": ["United Kingdom", "UK"], "DE": ["Germany"],
                 "FR": ["France"], "NL": ["Netherlands"], "CA": ["Canada"]},
        intl_styles=("intl", "intl", "e164"), extra_styles={"US": ["us_intl_paren", "us_intl_paren", "us_dash"]},
    )
    g = G.Gen(2808, spec)
    plan = [("clean", 34), ("ext", 2), ("mobile_only", 5), ("placeholder_mobile", 1), ("missing", 3),
            ("placeholder", 1), ("junk", 1), ("short", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["(Do Not Modify) Lead", "(Do Not Modify) Row Checksum", "(Do Not Modify) Modified On", "Name", "Topic",
              "Status Reason", "Company Name", "Business Phone", "Mobile Phone", "Email", "Country/Region",
              "Lead Source", "Owner", "Created On"]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "My Open Leads"
    ws.append(header)
    rows, lines = [], []
    for c in contacts:
        p = c.person
        guid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = G.dt(rng)
        modified = created + datetime.timedelta(days=rng.randrange(0, 30), minutes=rng.randrange(600))
        checksum = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                           for _ in range(86)) + "=="
        cells = {
            "(Do Not Modify) Lead": guid, "(Do Not Modify) Row Checksum": checksum,
            "(Do Not Modify) Modified On": modified, "Name": f"{p.first} {p.last}",
            "Topic": rng.choice(["Interested in 25 licences", "Webinar follow-up", "Trade show lead", "Pricing request"]),
            "Status Reason": rng.choice(["New", "New", "Contacted"]), "Company Name": p.company,
            "Business Phone": c.phones.get("business") or None, "Mobile Phone": c.phones.get("mobile") or None,
            "Email": p.email, "Country/Region": c.country_text or None,
            "Lead Source": rng.choice(["Advertisement", "Employee Referral", "Trade Show", "Web", "Word of Mouth",
                                       "Other", None]),
            "Owner": rng.choice(["Dana Whitfield", "Lukas Becker"]), "Created On": created,
        }
        ws.append([cells[h] for h in header])
        lines.append(ws.max_row)
        oracle = {k: v for k, v in cells.items()}
        rows.append(Row(oracle, ["Business Phone", "Mobile Phone"], c.read_region, lead_id=guid, key=p.email,
                        note=c.note, intent=c.intent))
    for row in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        row[0].number_format = "yyyy-mm-dd hh:mm:ss"
    for row in ws.iter_rows(min_row=2, min_col=14, max_col=14):
        row[0].number_format = "m/d/yyyy h:mm AM/PM"
    for col in "ABC":
        ws.column_dimensions[col].hidden = True
    last = openpyxl.utils.get_column_letter(len(header))
    table = Table(displayName="Table1", ref=f"A1:{last}{ws.max_row}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    ws.add_table(table)
    hidden = wb.create_sheet("hiddenSheet")
    hidden.sheet_state = "hidden"
    hidden["A1"] = "lead:Ex8xXDIu4RnUoWSBpuusIzeW0dmgDqEDbRZNylzPYzZ3aeIdmK3jh6xQGTCPEc1Clg8nMXfmyXJlmkf1ZeTzhQ==:leadid=%28Do%20Not%20Modify%29%20Lead&checksumLogicalName=%28Do%20Not%20Modify%29%20Row%20Checksum&modifiedon=%28Do%20Not%20Modify%29%20Modified%20On&fullname=Name&subject=Topic&statuscode=Status%20Reason&companyname=Company%20Name&telephone1=Business%20Phone&mobilephone=Mobile%20Phone&emailaddress1=Email&address1_country=Country%2fRegion&leadsourcecode=Lead%20Source&ownerid=Owner&createdon=Created%20On"  # noqa: E501
    for i, status in enumerate(["New", "Contacted", "Qualified", "Lost", "Cannot Contact", "No Longer Interested",
                                "Canceled"], start=1):
        hidden.cell(row=i, column=2, value=status)
    stamp = datetime.datetime(2025, 1, 20, 8, 15)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "Microsoft Dynamics 365"
    name = "dynamics365_leads.xlsx"
    G.save_reproducibly(wb, G.HERE / name, stamp)
    w = G.Written(1, lines, [], [])
    finish(name, rows, w, product="Microsoft Dynamics 365 Sales", args=[],
           imitates="Dynamics 365 Sales › Leads › My Open Leads › Export to Excel › Static worksheet (page only)",
           encoding="XLSX", delimiter="", line_endings="", skips=[])


def monday_board() -> None:
    """monday.com › a board › Export board to Excel: the board's name in the first row,
    then each group as its title row, its own header row and its items, an empty row
    between groups."""
    import openpyxl

    spec = G.Spec(
        regions=[("US", 60), ("GB", 14), ("CA", 10), ("AU", 6), ("DE", 10)],
        locale=LOCALE, kinds=["phone"], default_region=None, empty_country=0.1,
        country={"US": ["United States"], "GB": ["United Kingdom"], "CA": ["Canada"], "AU": ["Australia"],
                 "DE": ["Germany"]},
        intl_styles=("e164", "e164", "intl"),
    )
    g = G.Gen(2909, spec)
    plan = [("clean", 36), ("ext", 1), ("digits_cc", 3), ("missing", 4), ("junk", 1), ("short", 1)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["Name", "Person", "Status", "Phone", "Email", "Company", "Country", "Deal value", "Last contacted"]
    groups = [("New leads", 18), ("Contacted", 16), ("Qualified", len(contacts) - 34)]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sales Pipeline"
    ws.append(["Sales Pipeline"])
    skips = [(1, "title_row", "sheet row 1: the board's name")]
    rows, lines = [], []
    at = 0
    # (An empty row appended holds no cell, so `max_row` does not count it: the sheet row
    # is `_current_row`, where openpyxl's `append` puts the next row after it.)
    for gi, (group, count) in enumerate(groups):
        if gi:
            ws.append([])
            skips.append((ws._current_row, "blank_row", "the empty row between two groups"))
        ws.append([group])
        skips.append((ws._current_row, "group_title", f"the title of the group `{group}`"))
        ws.append(header)
        if gi:  # the first group's header row is the file's header
            skips.append((ws._current_row, "group_header", f"the header row again, for the group `{group}`"))
        for c in contacts[at: at + count]:
            p = c.person
            phone = c.phones.get("phone")
            cells = {
                "Name": f"{p.first} {p.last}", "Person": rng.choice(["Ryan Cole", "Mia Chen", None]),
                "Status": {"New leads": rng.choice(["New lead", "Working on it", None]),
                           "Contacted": rng.choice(["Contacted", "Stuck", "Working on it"]),
                           "Qualified": rng.choice(["Qualified", "Done"])}[group],
                "Phone": phone or None, "Email": p.email, "Company": p.company,
                "Country": c.country_text or None, "Deal value": rng.choice([None, 1200, 4800, 15000]),
                "Last contacted": G.dt(rng).date() if rng.random() < 0.6 else None,
            }
            ws.append([cells[h] for h in header])
            lines.append(ws._current_row)
            rows.append(Row(cells, ["Phone"], c.read_region, key=p.email, note=c.note, intent=c.intent))
        at += count
    for row in ws.iter_rows(min_col=9, max_col=9):
        if isinstance(row[0].value, datetime.date):
            row[0].number_format = "yyyy-mm-dd"
    stamp = datetime.datetime(2025, 3, 4, 10, 0)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "monday.com"
    name = "monday_board.xlsx"
    G.save_reproducibly(wb, G.HERE / name, stamp)
    w = G.Written(3, lines, [], [])
    finish(name, rows, w, product="monday.com", args=[],
           imitates="monday.com › a sales board › ⋯ › Export board to Excel (three groups)",
           encoding="XLSX", delimiter="", line_endings="", skips=skips)


def libreoffice_ods() -> None:
    """A contact list a Belgian team keeps in LibreOffice Calc (.ods): French headers with
    the Belgian `GSM` for the mobile and `Tél.`, numbers typed without spaces turned into
    numbers by Calc (the leading 0 gone), `02/555.12.34` as Belgians write them."""
    spec = G.Spec(
        regions=[("BE", 80), ("FR", 10), ("NL", 10)],
        locale=LOCALE, kinds=["tel", "gsm"], default_region=None, empty_country=0.08,
        country={"BE": ["Belgique", "Belgique", "België", "BE", "Belgium"], "FR": ["France"],
                 "NL": ["Pays-Bas", "Nederland"]},
        intl_styles=("intl", "intl", "idd00"), ext=(" ext. {n}",), placeholders=("-", "néant"),
        junk=("voir secrétariat",), short=("02 555", "0470"), extra_styles={"BE": ["be_slash", "be_slash"]},
    )
    g = G.Gen(3010, spec)
    plan = [("clean", 30), ("ext", 1), ("mobile_only", 5), ("placeholder_mobile", 1), ("missing", 2),
            ("placeholder", 1), ("junk", 1), ("short", 1), ("nozero", 2), ("digits_cc", 2)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    # Calc turns a cell typed as digits only into a number: `0470123456` becomes 470123456.
    for c in contacts:
        for kind, text in list(c.phones.items()):
            if isinstance(text, str) and re.fullmatch(r"\d{6,}", text):
                c.phones[kind] = int(text)
                calc = "a number cell" + (" (Calc dropped the leading 0)" if text.startswith("0") else "")
                c.note = f"{c.note}; {calc}" if c.note else calc
    header = ["Nom", "Prénom", "Société", "Tél.", "GSM", "E-mail", "Pays", "Statut", "Remarques"]
    rows, grid = [], [header]
    for c in contacts:
        p = c.person
        cells = {
            "Nom": p.last, "Prénom": p.first, "Société": p.company, "Tél.": c.phones.get("tel"),
            "GSM": c.phones.get("gsm"), "E-mail": p.email, "Pays": c.country_text or None,
            "Statut": rng.choice(["Nouveau", "Nouveau", "À rappeler", "Contacté", "Pas intéressé", None]),
            "Remarques": rng.choice([None, None, "Rappeler mardi", "Salon Batibouw"]),
        }
        grid.append([cells[h] for h in header])
        rows.append(Row(cells, ["Tél.", "GSM"], c.read_region, key=p.email, note=c.note, intent=c.intent))
    name = "be_contacts.ods"
    write_ods(G.HERE / name, "Contacts", grid, [[s] for s in ["Nouveau", "À rappeler", "Contacté", "Pas intéressé"]])
    w = G.Written(1, list(range(2, len(grid) + 1)), [], [])
    finish(name, rows, w, product="LibreOffice Calc (Belgium)", args=[],
           imitates="LibreOffice Calc 7.4 › Save as › ODF Spreadsheet (.ods), two sheets",
           encoding="ODS", delimiter="", line_endings="", skips=[])


ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:of="urn:oasis:names:tc:opendocument:xmlns:of:1.2" '
    'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0" '
    'xmlns:loext="urn:org:documentfoundation:names:experimental:office:xmlns:loext:1.0"'
)


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def ods_table(name: str, grid: list[list[object]]) -> str:
    """One sheet as LibreOffice 7.4 writes it (compared with a file it saved): strings and
    floats with `calcext:value-type`, runs of empty cells as `number-columns-repeated`,
    trailing empty cells left out."""
    width = max(len(r) for r in grid)
    out = [f'<table:table table:name="{esc(name)}" table:style-name="ta1">',
           f'<table:table-column table:style-name="co1" table:number-columns-repeated="{width}" '
           'table:default-cell-style-name="Default"/>']
    for r in grid:
        cells = list(r)
        while cells and cells[-1] in (None, ""):
            cells.pop()
        out.append('<table:table-row table:style-name="ro1">')
        empty = 0
        for v in cells:
            if v in (None, ""):
                empty += 1
                continue
            if empty:
                out.append("<table:table-cell/>" if empty == 1 else
                           f'<table:table-cell table:number-columns-repeated="{empty}"/>')
                empty = 0
            if isinstance(v, (int, float)):
                out.append(f'<table:table-cell office:value-type="float" office:value="{v}" '
                           f'calcext:value-type="float"><text:p>{v}</text:p></table:table-cell>')
            else:
                out.append('<table:table-cell office:value-type="string" calcext:value-type="string">'
                           f"<text:p>{esc(str(v))}</text:p></table:table-cell>")
        if not cells:
            out.append(f'<table:table-cell table:number-columns-repeated="{width}"/>')
        out.append("</table:table-row>")
    out.append("</table:table>")
    return "".join(out)


def write_ods(path, sheet: str, grid: list[list[object]], second: list[list[object]]) -> None:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<office:document-content {ODS_NS} office:version="1.3"><office:scripts/>'
        '<office:automatic-styles><style:style style:name="co1" style:family="table-column">'
        '<style:table-column-properties fo:break-before="auto" style:column-width="1.2in"/></style:style>'
        '<style:style style:name="ro1" style:family="table-row"><style:table-row-properties '
        'style:row-height="0.178in" fo:break-before="auto" style:use-optimal-row-height="true"/></style:style>'
        '<style:style style:name="ta1" style:family="table" style:master-page-name="Default">'
        '<style:table-properties table:display="true" style:writing-mode="lr-tb"/></style:style>'
        "</office:automatic-styles><office:body><office:spreadsheet>"
        '<table:calculation-settings table:automatic-find-labels="false" table:use-regular-expressions="false" '
        'table:use-wildcards="true"/>'
        + ods_table(sheet, grid) + ods_table("Listes", second)
        + "<table:named-expressions/></office:spreadsheet></office:body></office:document-content>"
    )
    meta = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<office:document-meta {ODS_NS} office:version="1.3"><office:meta>'
        "<meta:creation-date>2025-02-03T09:12:44.000000000</meta:creation-date>"
        "<meta:generator>LibreOffice/7.4.7.2$Linux_X86_64 LibreOffice_project/40$Build-2</meta:generator>"
        "</office:meta></office:document-meta>"
    )
    styles = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<office:document-styles {ODS_NS} office:version="1.3"><office:styles>'
        '<style:default-style style:family="table-cell"/><style:style style:name="Default" '
        'style:family="table-cell"/></office:styles><office:master-styles><style:master-page '
        'style:name="Default"/></office:master-styles></office:document-styles>'
    )
    settings = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<office:document-settings xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'office:version="1.3"><office:settings/></office:document-settings>'
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.3">\n'
        ' <manifest:file-entry manifest:full-path="/" manifest:version="1.3" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>\n'
        ' <manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>\n'
        ' <manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>\n'
        ' <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>\n'
        ' <manifest:file-entry manifest:full-path="settings.xml" manifest:media-type="text/xml"/>\n'
        "</manifest:manifest>"
    )
    stamp = (2025, 2, 3, 9, 12, 44)
    with zipfile.ZipFile(path, "w") as z:
        # The mimetype first and stored, as the ODF package format requires.
        z.writestr(zipfile.ZipInfo("mimetype", date_time=stamp), "application/vnd.oasis.opendocument.spreadsheet",
                   compress_type=zipfile.ZIP_STORED)
        for fname, data in [("meta.xml", meta), ("styles.xml", styles), ("content.xml", content),
                            ("settings.xml", settings), ("META-INF/manifest.xml", manifest)]:
            z.writestr(zipfile.ZipInfo(fname, date_time=stamp), data.encode("utf-8"),
                       compress_type=zipfile.ZIP_DEFLATED)


# ---------------------------------------------------------------------------------------
# Spreadsheet CSVs.
# ---------------------------------------------------------------------------------------


def google_sheets() -> None:
    """A sheet a UK team keeps in Google Sheets, File › Download › CSV: headers as people
    type them (`Tel`, `Mob`), numbers Sheets turned into numbers (`+442079460123` shown as
    442079460123, `07400123456` as 7400123456), checkboxes as TRUE/FALSE."""
    spec = G.Spec(
        regions=[("GB", 88), ("US", 6), ("FR", 6)],
        locale=LOCALE, kinds=["tel", "mob"], country=None, default_region="GB",
        intl_styles=("intl", "intl", "e164"), extra_styles={"GB": ["compact_national", "e164"]},
        placeholders=("-", "n/a", "TBC"), junk=("ask for Jo", "ring reception"), short=("020 7946", "07700"),
    )
    g = G.Gen(3111, spec)
    plan = [("clean", 36), ("ext", 2), ("multi", 1), ("mobile_only", 6), ("placeholder_mobile", 1), ("missing", 2),
            ("placeholder", 1), ("junk", 1), ("short", 1), ("nozero", 1), ("digits_cc", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    # Sheets reads `+442079460123` and `07400123456` typed into a cell as numbers, and the
    # CSV holds the number as shown: 442079460123, 7400123456.
    for c in contacts:
        if c.region != "GB":
            continue
        for kind, text in list(c.phones.items()):
            if isinstance(text, str) and re.fullmatch(r"\+?\d{9,}", text):
                c.phones[kind] = str(int(text.lstrip("+")))
                sheets = "Sheets made the cell a number"
                c.note = f"{c.note}; {sheets}" if c.note else sheets
    header = ["Full name", "Company", "Tel", "Mob", "Email", "Stage", "Owner", "Follow-up?", "Notes"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Full name": f"{p.first} {p.last}", "Company": p.company, "Tel": c.phones.get("tel", ""),
            "Mob": c.phones.get("mob", ""), "Email": p.email,
            "Stage": rng.choice(["New", "New", "Called", "Left VM", "Meeting booked", "Not interested", ""]),
            "Owner": rng.choice(["Priya", "Tom", ""]), "Follow-up?": rng.choice(["TRUE", "FALSE", "FALSE"]),
            "Notes": rng.choice(["", "", "", "Met at Olympia, keen", "Call after 2pm,\nnot Fridays"]),
        }
        rows.append(Row(cells, ["Tel", "Mob"], c.read_region, key=p.email, note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "google_sheets_leads.csv"
    w = G.write_csv(G.HERE / name, header, table, eol="\r\n")
    finish(name, rows, w, product="Google Sheets", args=["--default-region", "GB"],
           imitates="Google Sheets › File › Download › Comma-separated values (.csv, current sheet)",
           encoding="UTF-8", delimiter=",", line_endings="CRLF", skips=[])


def apple_numbers() -> None:
    """Apple Numbers › Export To › CSV with "Include table names": the table's name on a
    line of its own above the header; an Australian team's numbers."""
    spec = G.Spec(
        regions=[("AU", 90), ("GB", 5), ("US", 5)],
        locale=LOCALE, kinds=["phone", "mobile"], country=None, default_region="AU",
        extra_styles={"AU": ["compact_national"]}, placeholders=("-", "N/A"), junk=("ask reception",),
        short=("9374 41", "0412"),
    )
    g = G.Gen(3212, spec)
    plan = [("clean", 26), ("mobile_only", 5), ("placeholder_mobile", 1), ("missing", 2), ("placeholder", 1),
            ("junk", 1), ("short", 1)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["Name", "Business", "Phone", "Mobile", "Email", "State", "Status", "Notes"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Name": f"{p.first} {p.last}", "Business": p.company, "Phone": c.phones.get("phone", ""),
            "Mobile": c.phones.get("mobile", ""), "Email": p.email,
            "State": rng.choice(["NSW", "NSW", "VIC", "QLD", "WA"]) if c.region == "AU" else "",
            "Status": rng.choice(["New", "Called", "Meeting booked", "Not interested", ""]),
            "Notes": rng.choice(["", "", "Prefers SMS", "Met at the Sydney expo"]),
        }
        rows.append(Row(cells, ["Phone", "Mobile"], c.read_region, key=p.email, note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "numbers_leads.csv"
    w = G.write_csv(G.HERE / name, header, table, before=["Sydney leads"])
    finish(name, rows, w, product="Apple Numbers", args=["--default-region", "AU"],
           imitates="Numbers (macOS) › File › Export To › CSV… › Include table names, Unicode (UTF-8)",
           encoding="UTF-8", delimiter=",", line_endings="LF",
           skips=[(w.before[0], "title_row", "the table's name (Include table names)")])


def brazil_excel() -> None:
    """Excel pt-BR › CSV: `;`, Windows-1252, a `Estado` column that is the state (SP, RJ), not
    a status, `ramal` extensions, Brazilian placeholders."""
    spec = G.Spec(
        regions=[("BR", 90), ("PT", 10)], locale=LOCALE, kinds=["tel", "cel"], country=None, default_region="BR",
        # No `00` prefix: from Brazil an international call needs a carrier code (`0021 …`),
        # and `0055 11 …` would read as carrier 55, not as Brazil's country code.
        intl_styles=("intl", "intl", "e164"), ext=(" ramal {n}", " r. {n}"),
        placeholders=("não tem", "-", "sem telefone"), junk=("ligar na recepção", "ver obs."),
        short=("3123-45", "9999"), extra_styles={"BR": ["compact_national"]},
    )
    # "r. 12" is not a form the careful reader knows as an extension: keep to `ramal`.
    spec.ext = (" ramal {n}",)
    g = G.Gen(3313, spec)
    plan = [("clean", 34), ("ext", 2), ("mobile_only", 6), ("placeholder_mobile", 1), ("bad_mobile", 1),
            ("missing", 2), ("placeholder", 2), ("junk", 1), ("short", 1), ("digits_cc", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["Nome", "Sobrenome", "Empresa", "Cargo", "Telefone", "Celular", "E-mail", "Cidade", "Estado", "CEP",
              "Situação", "Observações"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Nome": p.first, "Sobrenome": p.last, "Empresa": p.company,
            "Cargo": rng.choice(["Gerente comercial", "Diretor", "Comprador", "Sócio", ""]),
            "Telefone": c.phones.get("tel", ""), "Celular": c.phones.get("cel", ""), "E-mail": p.email,
            "Cidade": city(rng, c.region), "Estado": rng.choice(["SP", "SP", "RJ", "MG", "PR"]) if c.region == "BR" else "",
            "CEP": rng.choice(["01310-100", "20040-002", ""]) if c.region == "BR" else "",
            "Situação": rng.choice(["Novo", "Novo", "Em contato", "Retornar", "Qualificado", "Desqualificado",
                                    "Perdido", ""]),
            "Observações": rng.choice(["", "", "Ligar depois das 14h", "Interessado no plano anual; pediu proposta"]),
        }
        rows.append(Row(cells, ["Telefone", "Celular"], c.read_region, key=p.email, note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "br_excel_leads.csv"
    w = G.write_csv(G.HERE / name, header, table, delim=";", eol="\r\n", encoding="cp1252")
    finish(name, rows, w, product="Microsoft Excel (Portuguese, Brazil)", args=["--default-region", "BR"],
           imitates="Excel (pt-BR) › Salvar como › CSV (separado por vírgulas), which writes `;` in Brazil",
           encoding="Windows-1252", delimiter=";", line_endings="CRLF", skips=[])


def polish_excel() -> None:
    """Excel pl-PL › CSV: `;`, Windows-1250 (the Polish ANSI code page), country names in
    Polish (`Polska`, `Niemcy`, `Wielka Brytania`), `wewn.` extensions."""
    spec = G.Spec(
        regions=[("PL", 80), ("DE", 10), ("GB", 10)],
        locale=LOCALE, kinds=["tel", "kom"], default_region=None, empty_country=0.08,
        country={"PL": ["Polska", "Polska", "PL", "POLSKA"], "DE": ["Niemcy"], "GB": ["Wielka Brytania"]},
        # `0048 …` only where the row is read in Poland (00 is not the way out of the US).
        intl_styles=("intl", "intl", "e164"), extra_styles={"PL": ["idd00"]},
        ext=(" wewn. {n}",), placeholders=("brak", "-", "nie ma"),
        junk=("dzwonić do sekretariatu",), short=("22 123", "5123"), sci_decimal=",",
    )
    g = G.Gen(3414, spec)
    plan = [("clean", 34), ("ext", 2), ("mobile_only", 5), ("placeholder_mobile", 1), ("missing", 2),
            ("placeholder", 2), ("junk", 1), ("short", 1), ("excel_sci", 1), ("unknown_country", 1)]
    contacts = g.run(plan, dups=2)
    rng = g.rng
    header = ["Imię", "Nazwisko", "Firma", "Stanowisko", "Telefon", "Telefon komórkowy", "E-mail", "Miasto", "Kraj",
              "Status", "Uwagi"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Imię": p.first, "Nazwisko": p.last, "Firma": p.company,
            "Stanowisko": rng.choice(["Prezes zarządu", "Kierownik zakupów", "Dyrektor handlowy", ""]),
            "Telefon": c.phones.get("tel", ""), "Telefon komórkowy": c.phones.get("kom", ""), "E-mail": p.email,
            "Miasto": city(rng, c.region), "Kraj": c.country_text,
            "Status": rng.choice(["Nowy", "Nowy", "Skontaktowano", "Oddzwonić", "Zakwalifikowany",
                                  "Niezainteresowany", ""]),
            "Uwagi": rng.choice(["", "", "Dzwonić po 15:00", "Targi Poznań; prosi o ofertę"]),
        }
        rows.append(Row(cells, ["Telefon", "Telefon komórkowy"], c.read_region, key=p.email, note=c.note,
                        intent=c.intent))
        table.append([cells[h] for h in header])
    name = "pl_excel_kontakty.csv"
    w = G.write_csv(G.HERE / name, header, table, delim=";", eol="\r\n", encoding="cp1250")
    finish(name, rows, w, product="Microsoft Excel (Polish)", args=[],
           imitates="Excel (pl-PL) › Zapisz jako › CSV (rozdzielany przecinkami), which writes `;` and "
                    "Windows-1250",
           encoding="Windows-1250", delimiter=";", line_endings="CRLF", skips=[])


def swedish_unicode_text() -> None:
    """Excel sv-SE › Save as › Unicode Text (*.txt): UTF-16LE with BOM, tab-separated, CRLF;
    Swedish headers, numbers as Swedes write them (`08-123 456 78`, `070-123 45 67`),
    country names in Swedish (`Sverige`, `Tyskland`, `Storbritannien`)."""
    G.NATIONAL_STYLES.setdefault("SE", ["national", "national", "compact_national"])
    G.TRUNK_ZERO.add("SE")
    spec = G.Spec(
        regions=[("SE", 80), ("DE", 10), ("GB", 10)],
        locale=LOCALE, kinds=["tel", "mobil"], default_region=None, empty_country=0.08,
        country={"SE": ["Sverige", "Sverige", "SE", "SVERIGE"], "DE": ["Tyskland"], "GB": ["Storbritannien"]},
        intl_styles=("intl", "intl", "e164"), extra_styles={"SE": ["idd00"]},
        placeholders=("saknas", "-", "finns ej"), junk=("ring växeln",), short=("08-123", "0701"),
    )
    g = G.Gen(3515, spec)
    plan = [("clean", 30), ("mobile_only", 5), ("placeholder_mobile", 1), ("missing", 2), ("placeholder", 1),
            ("junk", 1), ("short", 1)]
    contacts = g.run(plan, dups=1)
    rng = g.rng
    header = ["Förnamn", "Efternamn", "Företag", "Titel", "Telefon", "Mobil", "E-post", "Ort", "Land", "Status",
              "Kommentar"]
    rows, table = [], []
    for c in contacts:
        p = c.person
        cells = {
            "Förnamn": p.first, "Efternamn": p.last, "Företag": p.company,
            "Titel": rng.choice(["VD", "Inköpschef", "Säljchef", ""]), "Telefon": c.phones.get("tel", ""),
            "Mobil": c.phones.get("mobil", ""), "E-post": p.email, "Ort": city(rng, c.region), "Land": c.country_text,
            "Status": rng.choice(["Ny", "Ny", "Kontaktad", "Ring tillbaka", "Kvalificerad", "Ej intresserad", ""]),
            "Kommentar": rng.choice(["", "", "Träffades på mässan i Älvsjö", "Vill ha offert"]),
        }
        rows.append(Row(cells, ["Telefon", "Mobil"], c.read_region, key=p.email, note=c.note, intent=c.intent))
        table.append([cells[h] for h in header])
    name = "se_excel_kontakter.txt"
    w = G.write_csv(G.HERE / name, header, table, delim="\t", eol="\r\n", encoding="utf-16-le", bom=True)
    finish(name, rows, w, product="Microsoft Excel (Swedish)", args=[],
           imitates="Excel (sv-SE) › Spara som › Unicode-text (*.txt): UTF-16LE, tab-separated",
           encoding="UTF-16LE with BOM", delimiter="tab", line_endings="CRLF", skips=[])


def main(generate: ModuleType) -> None:
    global G
    G = generate
    hubspot_2024()
    salesforce_contacts_report()
    close_leads()
    apollo_people()
    keap_contacts()
    brevo_contacts()
    bigquery_gz()
    dynamics_leads()
    monday_board()
    libreoffice_ods()
    google_sheets()
    apple_numbers()
    brazil_excel()
    polish_excel()
    swedish_unicode_text()
    assert pn  # every expectation above went through phonenumbers
