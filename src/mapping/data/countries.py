#!/usr/bin/env python3
"""Writes countries.tsv beside this script: every ISO 3166-1 country by its alpha-2 code,
with its alpha-3 code and its names in English, French, German, Spanish, Italian,
Portuguese and Dutch, Polish, Swedish, Danish, Norwegian (Bokmål), Finnish and Czech, taken
from Debian's `iso-codes` package (the ISO 3166 maintenance
agency's names and their translations), followed by the names people write that ISO does
not list (ALIASES below).

    apt-get install iso-codes && python3 src/mapping/data/countries.py

The importer folds every name (accents, case, punctuation and spaces ignored) when it
loads the table; a folded name that two countries share is dropped as ambiguous. A
translation in MORE_LANGS of three letters or fewer (Czech `Čad` for Chad, `Man` for the
Isle of Man) is left out: it reads as a code or an abbreviation (`CAD`), not as a name.
"""
import gettext
import json
import os
import unicodedata

LANGS = ["fr", "de", "es", "it", "pt", "pt_BR", "nl"]

# Added later; their translations of three letters or fewer are left out (see above).
MORE_LANGS = ["pl", "sv", "da", "nb", "fi", "cs"]

# Colloquial names and abbreviations, by alpha-2 code, in the same languages.
ALIASES = {
    "DE": ["BRD", "Bundesrepublik Deutschland", "Federal Republic of Germany"],
    "CH": ["Helvetia", "Confoederatio Helvetica", "Suiza", "Suíça"],
    "AE": ["UAE", "U.A.E.", "Emirates", "Emirats arabes unis", "Emiratos Arabes Unidos",
           "Vereinigte Arabische Emirate", "Emirati Arabi Uniti", "Emirados Arabes Unidos",
           "Verenigde Arabische Emiraten"],
    "KP": ["North Korea", "Coree du Nord", "Nordkorea", "Corea del Norte", "Corea del Nord",
           "Coreia do Norte", "Noord-Korea"],
    "TR": ["Turkey", "Türkei", "Turquie", "Turquía", "Turchia", "Turquia", "Turkije"],
    "CN": ["PRC", "People's Republic of China", "Chine", "Cina"],
    "IR": ["Iran"], "SY": ["Syria"], "VN": ["Vietnam"], "LA": ["Laos"], "TZ": ["Tanzania"],
    "MD": ["Moldova"], "BO": ["Bolivia"], "VE": ["Venezuela"], "TW": ["Taiwan"],
    "VA": ["Vatican", "Vatican City", "Vatikan", "Vaticano", "Vatican City State"],
    "CI": ["Ivory Coast", "Cote d'Ivoire", "Elfenbeinküste", "Costa de Marfil", "Costa d'Avorio",
           "Costa do Marfim", "Ivoorkust"],
    "CD": ["DR Congo", "DRC", "Congo-Kinshasa", "RDC", "Democratic Republic of the Congo"],
    "CG": ["Congo-Brazzaville", "Republic of the Congo"],
    "MK": ["Macedonia", "Mazedonien", "Macedoine", "Macedonia del Norte"],
    "SZ": ["Swaziland"], "CV": ["Cape Verde"], "MM": ["Burma"],
    "PS": ["Palestine", "Palestina", "Palästina"],
    "FM": ["Micronesia"], "BN": ["Brunei"], "HK": ["Hongkong"], "MO": ["Macau"],
    "ZA": ["RSA"], "NZ": ["Aotearoa"],
    "IE": ["Eire", "Éire"],
    # Names in the countries' own languages, where iso-codes has none of them.
    "PL": ["Polska"], "HU": ["Magyarország"],
    "SE": ["Sverige"], "NO": ["Norge"], "DK": ["Danmark"], "FI": ["Suomi"],
    "HR": ["Hrvatska"], "SK": ["Slovensko"], "SI": ["Slovenija"], "EE": ["Eesti"],
    "LV": ["Latvija"], "LT": ["Lietuva"], "GR": ["Hellas", "Ellada"], "RO": ["România"],
    "BG": ["Bulgaria"], "IS": ["Ísland"], "JP": ["Nippon", "Nihon"],
    # Colloquial names in Polish, Swedish, Danish, Norwegian, Finnish and Czech that
    # iso-codes does not list (it has the official ones: `Wielka Brytania`, `Tyskland`).
    "GB": ["UK", "U.K.", "Great Britain", "Britain", "England", "Scotland", "Wales",
           "Northern Ireland", "Grande-Bretagne", "Angleterre", "Ecosse", "Pays de Galles",
           "Grossbritannien", "Großbritannien", "Schottland", "Gran Bretaña", "Inglaterra",
           "Escocia", "Gran Bretagna", "Inghilterra", "Scozia", "Grã-Bretanha", "Escócia",
           "Groot-Brittannië", "Engeland", "Schotland", "Britannia", "United Kingdom of Great Britain",
           "Anglia", "Szkocja", "Skottland", "Skotland", "Iso-Britannia", "Englanti",
           "Skotlanti", "Velká Británie", "Anglie", "Skotsko"],
    "US": ["USA", "U.S.", "U.S.A.", "America", "United States of America", "Etats-Unis d'Amerique",
           "Vereinigte Staaten von Amerika", "Estados Unidos de America", "EEUU", "EE.UU.", "EUA",
           "Stati Uniti d'America", "Verenigde Staten van Amerika", "VS", "Amerika",
           "Förenta staterna", "Spojené státy"],
    "NL": ["Holland", "The Netherlands", "Olanda", "Holanda", "Hollande", "Holandsko",
           "Hollanti"],
    "CZ": ["Czech Republic", "Tschechische Republik", "Republique tcheque", "Republica Checa",
           "Repubblica Ceca", "Republica Tcheca", "Tsjechische Republiek", "Česko",
           "Česká republika", "Tšekki"],
    "RU": ["Russia", "Russie", "Russland", "Rusia", "Rússia", "Rusland", "Rosja", "Ryssland",
           "Venäjä", "Rusko"],
    "KR": ["South Korea", "Korea (South)", "Coree du Sud", "Südkorea", "Corea del Sur",
           "Corea del Sud", "Coreia do Sul", "Zuid-Korea", "Korea Południowa", "Sydkorea",
           "Etelä-Korea", "Jižní Korea"],
}

# International vehicle registration codes (the Vienna Convention's distinguishing signs),
# which European address data uses for the country (`D-80331 München`, a `Land` column
# holding `D` or `A`). Only those that are not already an ISO alpha-2 or alpha-3 code.
VEHICLE_CODES = {
    "DE": ["D"], "AT": ["A"], "FR": ["F"], "ES": ["E"], "IT": ["I"], "BE": ["B"],
    "PT": ["P"], "LU": ["L"], "SE": ["S"], "NO": ["N"], "HU": ["H"], "MT": ["M"],
    "LI": ["FL"], "SM": ["RSM"],
}


def fold(name):
    """Letters and digits, lower case, without accents: close to the importer's folding."""
    special = {"ł": "l", "ø": "o", "æ": "ae", "ß": "ss", "œ": "oe", "đ": "d", "ı": "i"}
    out = []
    for c in name.lower():
        c = special.get(c, c)
        out.extend(d for d in unicodedata.normalize("NFKD", c) if d.isascii() and d.isalnum())
    return "".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    data = json.load(open("/usr/share/iso-codes/json/iso_3166-1.json", encoding="utf-8"))
    translations = [
        gettext.translation("iso_3166-1", "/usr/share/locale", languages=[lang])
        for lang in LANGS
    ]
    more = [
        gettext.translation("iso_3166-1", "/usr/share/locale", languages=[lang])
        for lang in MORE_LANGS
    ]
    lines = []
    for country in sorted(data["3166-1"], key=lambda c: c["alpha_2"]):
        code = country["alpha_2"]
        names = [country["alpha_3"]]
        for key in ("name", "common_name", "official_name"):
            if key in country:
                english = country[key]
                names.append(english)
                names.extend(t.gettext(english) for t in translations)
                names.extend(
                    name
                    for name in (t.gettext(english) for t in more)
                    if name == english or len(fold(name)) > 3
                )
        names.extend(ALIASES.get(code, []))
        names.extend(VEHICLE_CODES.get(code, []))
        seen = set()
        for name in names:
            if name not in seen:
                seen.add(name)
                lines.append(f"{code}\t{name}")
    with open(os.path.join(here, "countries.tsv"), "w", encoding="utf-8") as out:
        out.write("# alpha-2\tname (generated by countries.py from Debian iso-codes; do not edit)\n")
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
