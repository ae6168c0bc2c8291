//! Text keys: the accent-, case-, space- and punctuation-insensitive forms under which header
//! names and cell values (countries, statuses, placeholders) are compared.

/// The longest folded cell value looked up per row; longer values are never a country,
/// status or placeholder, so they are not folded at all (no per-row allocation, and no work
/// proportional to a huge cell beyond this bound).
pub const MAX_FOLDED: usize = 64;

/// Calls `push` with the folded bytes of `c`: ASCII letters lower-cased, digits kept, accents
/// and ligatures transliterated (`é` → `e`, `ß` → `ss`, `Ø` → `o`), everything else dropped.
/// Returns false as soon as `push` does.
fn fold_char(c: char, push: &mut impl FnMut(u8) -> bool) -> bool {
    if c.is_ascii() {
        let b = c as u8;
        return if b.is_ascii_alphanumeric() {
            push(b.to_ascii_lowercase())
        } else {
            true
        };
    }
    if !c.is_alphanumeric() {
        return true;
    }
    match deunicode::deunicode_char(c) {
        Some(ascii) => ascii
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .all(|b| push(b.to_ascii_lowercase())),
        None => true,
    }
}

/// The folded form of `s`: lower-case ASCII letters and digits only (`"E-mail Adresse"` →
/// `"emailadresse"`, `"Téléphone"` → `"telephone"`, `"Straße"` → `"strasse"`).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        fold_char(c, &mut |b| {
            out.push(b as char);
            true
        });
    }
    out
}

/// A fixed buffer for folding one cell value without allocating.
#[derive(Debug)]
pub struct FoldBuf {
    bytes: [u8; MAX_FOLDED],
}

impl Default for FoldBuf {
    fn default() -> Self {
        FoldBuf {
            bytes: [0; MAX_FOLDED],
        }
    }
}

impl FoldBuf {
    /// Folds `s` into the buffer and returns it, or `None` when `s` is longer than
    /// [`MAX_FOLDED`] bytes (before or after folding).
    pub fn fold<'b>(&'b mut self, s: &str) -> Option<&'b str> {
        if s.len() > MAX_FOLDED * 2 {
            return None;
        }
        let mut len = 0;
        let bytes = &mut self.bytes;
        let fits = s.chars().all(|c| {
            fold_char(c, &mut |b| {
                if len == MAX_FOLDED {
                    return false;
                }
                bytes[len] = b;
                len += 1;
                true
            })
        });
        if !fits {
            return None;
        }
        // Only ASCII letters and digits were written.
        std::str::from_utf8(&self.bytes[..len]).ok()
    }
}

/// The words of a header, folded: split at anything that is not a letter or digit, at a
/// lower-case letter followed by an upper-case one (`FirstName`, `MobilePhone`), and between
/// letters and digits (`Phone1`). `"Person - Phone - Work"` → `["person", "phone", "work"]`.
pub fn words(header: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev: Option<char> = None;
    for c in header.chars() {
        if !c.is_alphanumeric() {
            flush(&mut word, &mut out);
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let camel = p.is_lowercase() && c.is_uppercase();
            let digit_edge = p.is_ascii_digit() != c.is_ascii_digit();
            if camel || digit_edge {
                flush(&mut word, &mut out);
            }
        }
        fold_char(c, &mut |b| {
            word.push(b as char);
            true
        });
        prev = Some(c);
    }
    flush(&mut word, &mut out);
    out
}

fn flush(word: &mut String, out: &mut Vec<String>) {
    if !word.is_empty() {
        out.push(std::mem::take(word));
    }
}

/// Whether a trimmed cell says "no value" rather than giving one: `N/A`, `TBD`, `-`, `0`,
/// `k.A.`, `néant`, `none`, `null`, `unknown`, `?`, `não tem`, `brak`, `saknas`… in the
/// languages of the header rules, or only dashes,
/// dots, question marks, zeros, `x` and spaces. Such a phone is a missing phone, such a
/// country no country.
pub fn is_placeholder(cell: &str) -> bool {
    // No placeholder has a digit other than 0: a phone number is told apart at once.
    if cell.is_empty() || cell.bytes().any(|b| matches!(b, b'1'..=b'9')) {
        return false;
    }
    let symbolic = cell.chars().all(|c| {
        matches!(
            c,
            '-' | '–' | '—' | '_' | '.' | '?' | '0' | ' ' | '/' | '*' | '#' | 'x' | 'X'
        )
    });
    if symbolic {
        return true;
    }
    let mut buf = FoldBuf::default();
    let Some(key) = buf.fold(cell) else {
        return false;
    };
    PLACEHOLDERS.contains(&key)
}

/// Folded words that stand for "no value".
const PLACEHOLDERS: &[&str] = &[
    // English
    "na",
    "nan",
    "none",
    "null",
    "nil",
    "unknown",
    "tbd",
    "tba",
    "tbc",
    "pending",
    "notavailable",
    "notapplicable",
    "notprovided",
    "notgiven",
    "nophone",
    "nonumber",
    "missing",
    "empty",
    "blank",
    "novalue",
    "undefined",
    "void",
    "no",
    "nope",
    "dontknow",
    // French
    "neant",
    "aucun",
    "aucune",
    "inconnu",
    "inconnue",
    "nondisponible",
    "nd",
    "nc",
    "nonrenseigne",
    "nonrenseignee",
    "sansobjet",
    "so",
    "pasdenumero",
    "vide",
    // German
    "ka",
    "keineangabe",
    "keineangaben",
    "unbekannt",
    "keine",
    "kein",
    "nichtvorhanden",
    "fehlt",
    "leer",
    "entfallt",
    // Spanish
    "ninguno",
    "ninguna",
    "desconocido",
    "desconocida",
    "nodisponible",
    "sn",
    "sindatos",
    "sinnumero",
    "nohay",
    "vacio",
    // Italian
    "nessuno",
    "nessuna",
    "sconosciuto",
    "sconosciuta",
    "nondisponibile",
    "mancante",
    // Portuguese
    "nenhum",
    "nenhuma",
    "desconhecido",
    "desconhecida",
    "naodisponivel",
    "semnumero",
    // Dutch
    "geen",
    "onbekend",
    "nvt",
    "nv",
    "nietbeschikbaar",
    "ntb",
    "naotem",
    "semtelefone",
    "semtel",
    "naoinformado",
    "naoinformada",
    // Spanish, again
    "sintelefono",
    "notiene",
    // Polish
    "brak",
    "niema",
    "brakdanych",
    "braknumeru",
    "braktelefonu",
    "nieznany",
    "nieznana",
    "niepodano",
    // Swedish, Danish, Norwegian
    "saknas",
    "finnsej",
    "finnsinte",
    "ingen",
    "okand",
    "ejangivet",
    "mangler",
    "ukendt",
    "ukjent",
    "ikkeoplyst",
    "ikkeoppgitt",
    // Finnish
    "eiole",
    "puuttuu",
    "tuntematon",
    "eitiedossa",
    // Czech
    "neni",
    "chybi",
    "nezname",
    "neznamy",
    "zadne",
    // Spreadsheet errors
    "error",
    "ref",
    "div0",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_accents_and_punctuation() {
        assert_eq!(fold("E-mail Address"), "emailaddress");
        assert_eq!(fold("Téléphone"), "telephone");
        assert_eq!(fold("TELÉFONO MÓVIL"), "telefonomovil");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Österreich"), "osterreich");
        assert_eq!(fold("U.S.A."), "usa");
        assert_eq!(fold("Ørsted Æble"), "orstedaeble");
        let mut buf = FoldBuf::default();
        assert_eq!(buf.fold("Open - Not Contacted"), Some("opennotcontacted"));
        assert_eq!(
            buf.fold(&"a".repeat(MAX_FOLDED)).map(str::len),
            Some(MAX_FOLDED)
        );
        assert_eq!(buf.fold(&"a".repeat(MAX_FOLDED + 1)), None);
        assert_eq!(buf.fold(&"é".repeat(1_000_000)), None);
    }

    #[test]
    fn header_words() {
        assert_eq!(words("Person - Phone - Work"), ["person", "phone", "work"]);
        assert_eq!(words("Phone 1 - Value"), ["phone", "1", "value"]);
        assert_eq!(words("MobilePhone"), ["mobile", "phone"]);
        assert_eq!(words("FirstName"), ["first", "name"]);
        assert_eq!(words("Phone1"), ["phone", "1"]);
        assert_eq!(words("LEID"), ["leid"]);
        assert_eq!(words("Téléphone portable"), ["telephone", "portable"]);
        assert_eq!(words("Assistant's Phone"), ["assistant", "s", "phone"]);
        assert_eq!(words("E-Mail-Adresse"), ["e", "mail", "adresse"]);
    }

    #[test]
    fn placeholders() {
        for p in [
            "N/A",
            "n/a",
            "NA",
            "TBD",
            "-",
            "--",
            "—",
            "0",
            "000",
            "k.A.",
            "k. A.",
            "néant",
            "none",
            "NULL",
            "unknown",
            "?",
            "???",
            "x",
            "xxx",
            "Keine Angabe",
            "desconocido",
            "n.v.t.",
            "#N/A",
            "s/n",
            "inconnu",
            ".",
            "não tem",
            "Não tem",
            "sem telefone",
            "sin teléfono",
            "brak",
            "nie ma",
            "saknas",
            "finns ej",
            "mangler",
            "ei ole",
            "není",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for value in [
            "+1 650 253 0000",
            "0151 1234567",
            "Germany",
            "new",
            "N/Anything",
            "12",
            "x123",
        ] {
            assert!(!is_placeholder(value), "{value}");
        }
    }
}
