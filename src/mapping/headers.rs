//! Header recognition: which lead field a column holds, from the words of its header, in
//! English, French, German, Spanish, Italian, Portuguese and Dutch, and Polish, Swedish,
//! Danish, Norwegian, Finnish and Czech, accent- and case-insensitive; which columns are phone numbers and in what order to try them; which
//! columns are noise (owners, audit timestamps, internal notes, system ids).

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use super::text::{fold, words};

/// What a header says its column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognised {
    /// A single-valued lead field; among several columns for one field, the lowest rank
    /// wins, then the leftmost column.
    Field(Field, u8),
    /// `Nom` (French), `Name` (German): the last name when the file has a first-name column
    /// and no last-name column, the full name otherwise.
    NameOrLast,
    /// `Nombre` (Spanish), `Nome` (Italian, Portuguese): the first name when the file has a
    /// last-name column and no first-name column, the full name otherwise.
    NameOrFirst,
    /// A phone number column.
    Phone(PhoneRank),
    /// A column that is not lead data, with the reason.
    Noise(&'static str),
    /// Nothing known.
    Unknown,
}

/// The single-valued fields a header can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `lead_id`
    LeadId,
    /// Full name.
    Name,
    /// First name.
    FirstName,
    /// Last name.
    LastName,
    /// Email.
    Email,
    /// Status.
    Status,
    /// Tags.
    Tags,
    /// A JSON object of custom fields.
    CustomFields,
    /// Country.
    Country,
}

/// What kind of phone a column holds, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhoneKind {
    /// Main, work, business, office, landline, or just "phone".
    Main,
    /// Mobile, cell, Handy, portable, móvil, celular…
    Mobile,
    /// Home, private, other, assistant, car…
    Other,
}

impl PhoneKind {
    /// Lower-case name for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneKind::Main => "main",
            PhoneKind::Mobile => "mobile",
            PhoneKind::Other => "other",
        }
    }
}

/// The order key of a phone column: kind, then within a kind `main`/`primary` before plain
/// before `work`/`business`, then the number in the header (`Phone 1` before `Phone 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneRank {
    /// The kind.
    pub kind: PhoneKind,
    /// 0 for main/primary, 1 plain, 2 work/business and other qualifiers.
    pub sub: u8,
    /// The number in the header, 0 when none.
    pub number: u32,
}

/// Words that carry no meaning for recognition: articles, "number", "value", and the
/// entity words CRMs put before field names (`Lead Status`, `Person - Name`).
const FILLER: &[&str] = &[
    "number", "numbers", "num", "no", "nr", "nro", "nummer", "numero", "numeros", "n", "value",
    "valeur", "wert", "valor", "valore", "waarde", "of", "the", "a", "de", "du", "des", "d", "la",
    "le", "l", "el", "del", "da", "do", "dos", "di", "van", "het", "s", "contact", "contacts",
    "person", "persons", "people", "lead", "leads", "customer", "client", "kunde", "kunden",
    "kontakt", "cliente", "klant", "persona", "personne", "pessoa", "contatto", "contacto",
    "contato", "prospect", "numer", "cislo", "kontaktu", "kontakty",
];

/// Words naming a phone.
const PHONE_NOUN: &[&str] = &[
    "phone",
    "phones",
    "telephone",
    "tel",
    "tele",
    "telefon",
    "telefone",
    "telefono",
    "telefoon",
    "fone",
    "msisdn",
    "rufnummer",
    "fixe",
    "festnetz",
    "landline",
    "fijo",
    "fisso",
    "fixo",
    "dial",
    "telnr",
    "telefonnr",
    "ph",
    "phn",
    "telefonu",
    "telefonni",
    "tfn",
    "tlf",
    "puhelin",
    "puh",
];

/// Words naming a mobile phone (a phone by themselves too).
const MOBILE: &[&str] = &[
    "mobile",
    "mobil",
    "mobiel",
    "mobiele",
    "mobilfunk",
    "handy",
    "cell",
    "cellular",
    "cellphone",
    "cellulare",
    "cellulaire",
    "celular",
    "movil",
    "portable",
    "gsm",
    "telemovel",
    "whatsapp",
    "natel",
    "mob",
    "cel",
    "mobilephone",
    "sms",
    "komorkowy",
    "komorkowa",
    "komorka",
    "komorki",
    "mobilni",
    "matkapuhelin",
    "kannykka",
    "mobilny",
    "komorkowego",
];

/// Words that make a phone the main one: main, primary, work, business…
const MAIN_QUAL: &[&str] = &[
    "main",
    "primary",
    "preferred",
    "work",
    "business",
    "office",
    "company",
    "direct",
    "general",
    "corporate",
    "principal",
    "travail",
    "bureau",
    "professionnel",
    "professionnelle",
    "pro",
    "entreprise",
    "societe",
    "geschaftlich",
    "geschaft",
    "geschafts",
    "buro",
    "arbeit",
    "firma",
    "haupt",
    "dienstlich",
    "zentrale",
    "trabajo",
    "oficina",
    "empresa",
    "laboral",
    "lavoro",
    "ufficio",
    "principale",
    "aziendale",
    "trabalho",
    "escritorio",
    "comercial",
    "werk",
    "kantoor",
    "zakelijk",
    "vast",
    "hoofd",
    "sluzbowy",
    "stacjonarny",
    "firmowy",
    "arbete",
    "arbets",
    "arbejde",
    "arbeids",
    "jobb",
    "vaxel",
    "direkt",
    "tyo",
    "pevna",
    "pracovni",
];

/// The qualifiers of [`MAIN_QUAL`] that put a phone first among main phones.
const FIRST_QUAL: &[&str] = &[
    "main",
    "primary",
    "preferred",
    "principal",
    "principale",
    "haupt",
    "hoofd",
];

/// Words that make a phone a secondary one: home, private, other…
const OTHER_QUAL: &[&str] = &[
    "home",
    "private",
    "personal",
    "other",
    "alternate",
    "alternative",
    "alt",
    "secondary",
    "additional",
    "assistant",
    "assistants",
    "car",
    "callback",
    "radio",
    "domicile",
    "maison",
    "perso",
    "personnel",
    "personnelle",
    "autre",
    "prive",
    "privee",
    "privat",
    "zuhause",
    "andere",
    "weitere",
    "sonstige",
    "zweite",
    "casa",
    "particular",
    "otro",
    "otra",
    "privato",
    "altro",
    "residencial",
    "outro",
    "pessoal",
    "thuis",
    "overig",
    "ander",
    "secundario",
    "secondaire",
    "domowy",
    "prywatny",
    "inny",
    "dodatkowy",
    "hem",
    "hjem",
    "hjemme",
    "koti",
    "soukromy",
    "domaci",
    "jiny",
    "weitere",
];

/// Words that make a phone-like column not a phone: fax, pager, type and label columns,
/// extensions.
const NOT_A_PHONE: &[&str] = &[
    "fax",
    "telefax",
    "pager",
    "telex",
    "isdn",
    "tty",
    "tdd",
    "type",
    "typ",
    "tipo",
    "label",
    "kind",
    "ext",
    "extension",
    "extn",
    "durchwahl",
    "poste",
    "anexo",
    "ramal",
    "interno",
    "toestel",
    "faks",
    "faksi",
    "wewn",
    "wewnetrzny",
    "anknytning",
    "lokalnummer",
];

/// Headers that are phone columns but whose words say so only together.
const PHONE_PHRASES: &[&str] = &[
    "contactnumber",
    "contactnummer",
    "kontaktnummer",
    "numerodecontact",
    "numerocontact",
    "numerocontacto",
    "numerodecontacto",
    "numerocontatto",
    "numerodicontatto",
    "numerocontato",
    "callnumber",
];

/// Single-valued fields by the folded words of their header (filler words removed).
const FIELDS: &[(&str, Field, u8)] = &[
    // lead_id
    ("externalid", Field::LeadId, 0),
    ("crmid", Field::LeadId, 0),
    ("recordid", Field::LeadId, 0),
    ("externeid", Field::LeadId, 0),
    ("idexterne", Field::LeadId, 0),
    ("idexterno", Field::LeadId, 0),
    ("kundennummer", Field::LeadId, 0),
    ("kundenid", Field::LeadId, 0),
    ("klantnummer", Field::LeadId, 0),
    ("customernumber", Field::LeadId, 0),
    ("clientnumber", Field::LeadId, 0),
    ("numeroclient", Field::LeadId, 0),
    ("numerodeclient", Field::LeadId, 0),
    ("numerocliente", Field::LeadId, 0),
    ("numerodecliente", Field::LeadId, 0),
    ("codigocliente", Field::LeadId, 0),
    ("codicecliente", Field::LeadId, 0),
    ("id", Field::LeadId, 1),
    ("identifier", Field::LeadId, 1),
    ("identifiant", Field::LeadId, 1),
    ("identificador", Field::LeadId, 1),
    ("identificativo", Field::LeadId, 1),
    ("kennung", Field::LeadId, 1),
    ("identyfikator", Field::LeadId, 1),
    // name
    ("fullname", Field::Name, 0),
    ("displayname", Field::Name, 1),
    ("nomcomplet", Field::Name, 0),
    ("nometprenom", Field::Name, 0),
    ("prenometnom", Field::Name, 0),
    ("nomprenom", Field::Name, 0),
    ("prenomnom", Field::Name, 0),
    ("vollername", Field::Name, 0),
    ("vollstandigername", Field::Name, 0),
    ("vorundnachname", Field::Name, 0),
    ("nombrecompleto", Field::Name, 0),
    ("nombreyapellidos", Field::Name, 0),
    ("nombreapellidos", Field::Name, 0),
    ("nomecompleto", Field::Name, 0),
    ("nomeecognome", Field::Name, 0),
    ("nomecognome", Field::Name, 0),
    ("volledigenaam", Field::Name, 0),
    ("naam", Field::Name, 0),
    // Polish, Swedish, Danish, Norwegian, Finnish, Czech
    ("imieinazwisko", Field::Name, 0),
    ("namn", Field::Name, 0),
    ("fullstandigtnamn", Field::Name, 0),
    ("navn", Field::Name, 0),
    ("fuldtnavn", Field::Name, 0),
    ("fulltnavn", Field::Name, 0),
    ("nimi", Field::Name, 0),
    ("kokonimi", Field::Name, 0),
    ("celejmeno", Field::Name, 0),
    ("jmenoaprijmeni", Field::Name, 0),
    // first name
    ("firstname", Field::FirstName, 0),
    ("first", Field::FirstName, 1),
    ("givenname", Field::FirstName, 0),
    ("forename", Field::FirstName, 0),
    ("prenom", Field::FirstName, 0),
    ("prenoms", Field::FirstName, 0),
    ("vorname", Field::FirstName, 0),
    ("nombrepila", Field::FirstName, 0),
    ("primernombre", Field::FirstName, 0),
    ("nombres", Field::FirstName, 1),
    ("primeironome", Field::FirstName, 0),
    ("nomeproprio", Field::FirstName, 0),
    ("voornaam", Field::FirstName, 0),
    ("roepnaam", Field::FirstName, 1),
    ("imie", Field::FirstName, 0),
    ("fornamn", Field::FirstName, 0),
    ("fornavn", Field::FirstName, 0),
    ("etunimi", Field::FirstName, 0),
    ("krestnijmeno", Field::FirstName, 0),
    // last name
    ("lastname", Field::LastName, 0),
    ("last", Field::LastName, 1),
    ("surname", Field::LastName, 0),
    ("familyname", Field::LastName, 0),
    ("nomfamille", Field::LastName, 0),
    ("nachname", Field::LastName, 0),
    ("familienname", Field::LastName, 0),
    ("zuname", Field::LastName, 0),
    ("apellido", Field::LastName, 0),
    ("apellidos", Field::LastName, 0),
    ("primerapellido", Field::LastName, 0),
    ("cognome", Field::LastName, 0),
    ("sobrenome", Field::LastName, 0),
    ("apelido", Field::LastName, 0),
    ("apelidos", Field::LastName, 0),
    ("ultimonome", Field::LastName, 0),
    ("achternaam", Field::LastName, 0),
    ("familienaam", Field::LastName, 0),
    ("nazwisko", Field::LastName, 0),
    ("efternamn", Field::LastName, 0),
    ("efternavn", Field::LastName, 0),
    ("etternavn", Field::LastName, 0),
    ("sukunimi", Field::LastName, 0),
    ("prijmeni", Field::LastName, 0),
    // email
    ("email", Field::Email, 0),
    ("emails", Field::Email, 0),
    ("mail", Field::Email, 1),
    ("emailaddress", Field::Email, 0),
    ("emailadresse", Field::Email, 0),
    ("mailadresse", Field::Email, 0),
    ("adresseemail", Field::Email, 0),
    ("adressemail", Field::Email, 0),
    ("adresseelectronique", Field::Email, 0),
    ("adressecourriel", Field::Email, 0),
    ("courriel", Field::Email, 0),
    ("mel", Field::Email, 1),
    ("correo", Field::Email, 0),
    ("correoelectronico", Field::Email, 0),
    ("direccioncorreo", Field::Email, 0),
    ("direccioncorreoelectronico", Field::Email, 0),
    ("direccionemail", Field::Email, 0),
    ("indirizzoemail", Field::Email, 0),
    ("postaelettronica", Field::Email, 0),
    ("indirizzopostaelettronica", Field::Email, 0),
    ("enderecoemail", Field::Email, 0),
    ("enderecoeletronico", Field::Email, 0),
    ("correioeletronico", Field::Email, 0),
    ("emailadres", Field::Email, 0),
    ("mailadres", Field::Email, 0),
    ("epost", Field::Email, 0),
    ("epostadress", Field::Email, 0),
    ("epostadresse", Field::Email, 0),
    ("sahkoposti", Field::Email, 0),
    ("sahkopostiosoite", Field::Email, 0),
    // status
    ("status", Field::Status, 0),
    ("statut", Field::Status, 0),
    ("estado", Field::Status, 1),
    ("stato", Field::Status, 0),
    ("situacao", Field::Status, 1),
    ("leadstatus", Field::Status, 0),
    ("stav", Field::Status, 1),
    ("tila", Field::Status, 1),
    // tags
    ("tags", Field::Tags, 0),
    ("tag", Field::Tags, 0),
    ("labels", Field::Tags, 0),
    ("label", Field::Tags, 1),
    ("etiquettes", Field::Tags, 0),
    ("etiquette", Field::Tags, 1),
    ("motscles", Field::Tags, 0),
    ("schlagworter", Field::Tags, 0),
    ("schlagwort", Field::Tags, 1),
    ("stichworter", Field::Tags, 0),
    ("stichworte", Field::Tags, 0),
    ("etiketten", Field::Tags, 0),
    ("etiketter", Field::Tags, 0),
    ("etiquetas", Field::Tags, 0),
    ("etiqueta", Field::Tags, 1),
    ("etichette", Field::Tags, 0),
    ("etichetta", Field::Tags, 1),
    ("marcadores", Field::Tags, 0),
    ("tagi", Field::Tags, 0),
    ("etykiety", Field::Tags, 0),
    ("taggar", Field::Tags, 0),
    ("tunnisteet", Field::Tags, 0),
    ("stitky", Field::Tags, 0),
    // custom fields
    ("customfields", Field::CustomFields, 0),
    // country
    ("country", Field::Country, 0),
    ("countrycode", Field::Country, 0),
    ("countryregion", Field::Country, 0),
    ("countryorregion", Field::Country, 0),
    ("countryname", Field::Country, 0),
    ("pays", Field::Country, 0),
    ("codepays", Field::Country, 0),
    ("land", Field::Country, 0),
    ("landcode", Field::Country, 0),
    ("landercode", Field::Country, 0),
    ("landerkennung", Field::Country, 0),
    ("staat", Field::Country, 2),
    ("pais", Field::Country, 0),
    ("codigopais", Field::Country, 0),
    ("paese", Field::Country, 0),
    ("nazione", Field::Country, 0),
    ("nation", Field::Country, 1),
    ("kraj", Field::Country, 0),
    ("maa", Field::Country, 0),
    ("zeme", Field::Country, 0),
];

/// Words that qualify an email or country column (`Work Email`, `Mailing Country`); such a
/// column is recognised with a lower priority than the plain one.
const FIELD_QUALS: &[&str] = &[
    "work",
    "business",
    "office",
    "primary",
    "main",
    "home",
    "personal",
    "private",
    "other",
    "mailing",
    "billing",
    "postal",
    "address",
    "shipping",
    "secondary",
    "alternate",
    "professional",
    "pro",
    "perso",
    "personnel",
    "personnelle",
    "travail",
    "bureau",
    "domicile",
    "autre",
    "geschaftlich",
    "privat",
    "dienstlich",
    "trabajo",
    "otro",
    "lavoro",
    "privato",
    "altro",
    "trabalho",
    "pessoal",
    "outro",
    "werk",
    "prive",
    "zakelijk",
    "thuis",
    "overig",
    "adresse",
    "direccion",
    "indirizzo",
    "endereco",
    "adres",
    "postadresse",
    "region",
];

/// Words of the owner of a record in the CRM (a user of the CRM, not lead data).
const OWNER: &[&str] = &[
    "owner",
    "owners",
    "proprietaire",
    "besitzer",
    "eigentumer",
    "inhaber",
    "propietario",
    "proprietario",
    "eigenaar",
    "assigned",
    "assignee",
    "zugewiesen",
    "attribue",
    "asignado",
    "assegnato",
    "atribuido",
    "toegewezen",
    "responsable",
    "verantwortlich",
];

/// Words of the CRM's own bookkeeping of a record: when and by whom it was created or changed.
const AUDIT: &[&str] = &[
    "created",
    "create",
    "creation",
    "createdate",
    "createddate",
    "createdby",
    "createdat",
    "modified",
    "modification",
    "modifiedby",
    "lastmodified",
    "lastmodifieddate",
    "updated",
    "update",
    "updatedat",
    "changed",
    "lastchanged",
    "edited",
    "modstamp",
    "systemmodstamp",
    "timestamp",
    "erstellt",
    "erstellung",
    "erstelldatum",
    "erstellungsdatum",
    "geandert",
    "anderung",
    "aktualisiert",
    "cree",
    "creee",
    "modifie",
    "modifiee",
    "maj",
    "creado",
    "creada",
    "creacion",
    "modificado",
    "modificada",
    "modificacion",
    "actualizado",
    "actualizacion",
    "creato",
    "creata",
    "creazione",
    "modificato",
    "modificata",
    "aggiornato",
    "criado",
    "criada",
    "criacao",
    "alterado",
    "alteracao",
    "atualizado",
    "aangemaakt",
    "gewijzigd",
    "bijgewerkt",
    "aanmaakdatum",
    "wijzigingsdatum",
    "lastviewed",
    "lastvieweddate",
    "lastreferenced",
    "lastreferenceddate",
    "lastactivity",
    "lastactivitydate",
    "activity",
    "activities",
];

/// Words of notes meant for the team, not for the lead.
const INTERNAL: &[&str] = &[
    "internal",
    "interne",
    "internes",
    "intern",
    "interno",
    "interna",
    "internal_notes",
];

/// The records a `<Product> <entity> Id` column can be the own id of (`Apollo Contact Id`,
/// `HubSpot Record ID`): the lead itself, not another record.
const RECORD_ENTITY: &[&str] = &[
    "contact",
    "lead",
    "person",
    "record",
    "prospect",
    "customer",
    "client",
    "subscriber",
    "member",
    "kontakt",
    "klant",
    "cliente",
    "kunde",
];

/// Words before `<entity> Id` that make it another record's id (`Primary Contact ID` in
/// a deals export, `Associated Contact ID`, `Converted Lead ID`, `Account Contact Id`).
const RELATION: &[&str] = &[
    "primary",
    "main",
    "secondary",
    "other",
    "associated",
    "association",
    "parent",
    "child",
    "related",
    "converted",
    "master",
    "linked",
    "merged",
    "duplicate",
    "original",
    "previous",
    "old",
    "new",
    "legacy",
    "referring",
    "referred",
    "referrer",
    "referral",
    "account",
    "company",
    "organization",
    "organisation",
    "org",
    "deal",
    "opportunity",
    "campaign",
    "list",
    "team",
    "user",
    "partner",
    "sales",
    "billing",
    "shipping",
    "source",
    "target",
    "assistant",
    "manager",
];

const F_PHONE: u16 = 1;
const F_MOBILE: u16 = 1 << 1;
const F_MAIN: u16 = 1 << 2;
const F_OTHER: u16 = 1 << 3;
const F_NOT_PHONE: u16 = 1 << 4;
const F_FILLER: u16 = 1 << 5;
const F_FIRST: u16 = 1 << 6;
const F_OWNER: u16 = 1 << 7;
const F_AUDIT: u16 = 1 << 8;
const F_INTERNAL: u16 = 1 << 9;
const F_FIELD_QUAL: u16 = 1 << 10;
/// Any word of the phone vocabulary.
const F_PHONE_VOCAB: u16 = F_PHONE | F_MOBILE | F_MAIN | F_OTHER | F_NOT_PHONE | F_FILLER;

/// Every word list above as one table of flags, built once (a file may have 10^5 columns).
fn vocabulary() -> &'static FxHashMap<&'static str, u16> {
    static VOCAB: OnceLock<FxHashMap<&'static str, u16>> = OnceLock::new();
    VOCAB.get_or_init(|| {
        let mut map: FxHashMap<&'static str, u16> = FxHashMap::default();
        for (list, flag) in [
            (PHONE_NOUN, F_PHONE),
            (MOBILE, F_MOBILE),
            (MAIN_QUAL, F_MAIN),
            (OTHER_QUAL, F_OTHER),
            (NOT_A_PHONE, F_NOT_PHONE),
            (FILLER, F_FILLER),
            (FIRST_QUAL, F_FIRST),
            (OWNER, F_OWNER),
            (AUDIT, F_AUDIT),
            (INTERNAL, F_INTERNAL),
            (FIELD_QUALS, F_FIELD_QUAL),
        ] {
            for word in list {
                *map.entry(word).or_default() |= flag;
            }
        }
        map
    })
}

fn flags(word: &str) -> u16 {
    vocabulary().get(word).copied().unwrap_or(0)
}

/// [`FIELDS`] as a table.
fn fields() -> &'static FxHashMap<&'static str, (Field, u8)> {
    static TABLE: OnceLock<FxHashMap<&'static str, (Field, u8)>> = OnceLock::new();
    TABLE.get_or_init(|| FIELDS.iter().map(|(w, f, r)| (*w, (*f, *r))).collect())
}

/// Recognises a header.
pub fn recognise(header: &str) -> Recognised {
    let all = words(header);
    if all.is_empty() {
        return Recognised::Unknown;
    }
    if own_record_id(&all) {
        return Recognised::Field(Field::LeadId, 2);
    }
    if let Some(noise) = noise(header, &all) {
        return noise;
    }
    if let Some(phone) = phone(&all) {
        return Recognised::Phone(phone);
    }
    let number = all
        .iter()
        .find_map(|w| w.parse::<u32>().ok())
        .unwrap_or(0)
        .min(99);
    let content: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|w| flags(w) & F_FILLER == 0 && !w.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    let joined = if content.is_empty() {
        // Everything was filler ("Customer Number", "Numéro client"): the whole header.
        all.iter()
            .filter(|w| !w.bytes().all(|b| b.is_ascii_digit()))
            .map(String::as_str)
            .collect::<String>()
    } else {
        content.concat()
    };
    if PHONE_PHRASES.contains(&joined.as_str()) {
        return Recognised::Phone(PhoneRank {
            kind: PhoneKind::Main,
            sub: 1,
            number,
        });
    }
    match joined.as_str() {
        "name" | "nom" => return Recognised::NameOrLast,
        "nombre" | "nome" => return Recognised::NameOrFirst,
        _ => {}
    }
    let bump = u8::try_from(number.saturating_sub(1)).unwrap_or(u8::MAX);
    if let Some(&(field, rank)) = fields().get(joined.as_str()) {
        return Recognised::Field(field, rank.saturating_add(bump));
    }
    // `Work Email`, `Mailing Country`, `Business Country/Region`: the field with its
    // qualifiers left out, after the plain one.
    let core: Vec<&str> = content
        .iter()
        .copied()
        .filter(|w| flags(w) & F_FIELD_QUAL == 0)
        .collect();
    if !core.is_empty() && core.len() < content.len() {
        let joined = core.concat();
        if let Some(&(field, rank)) = fields()
            .get(joined.as_str())
            .filter(|(f, _)| matches!(f, Field::Email | Field::Country))
        {
            return Recognised::Field(field, rank.saturating_add(3).saturating_add(bump));
        }
    }
    Recognised::Unknown
}

/// `<Product> <entity> Id` (`Apollo Contact Id`, `HubSpot Record ID`, `ApolloContactId`):
/// the export's own id of the record, after a plain `Record ID` or `Id`. One or two words
/// before the entity (the product's name), none of which makes it another record's id
/// (`Primary Contact ID`, `Account Contact Id`, `Contact Owner Id`).
fn own_record_id(all: &[String]) -> bool {
    let [prefix @ .., entity, id] = all else {
        return false;
    };
    id == "id"
        && RECORD_ENTITY.contains(&entity.as_str())
        && (1..=2).contains(&prefix.len())
        && prefix.iter().all(|w| {
            !RELATION.contains(&w.as_str())
                && !RECORD_ENTITY.contains(&w.as_str())
                && !w.bytes().all(|b| b.is_ascii_digit())
                && flags(w) & (F_OWNER | F_AUDIT | F_INTERNAL | F_FILLER | F_PHONE_VOCAB) == 0
        })
}

/// The phone rank of a header whose every word is phone vocabulary (or filler), with at
/// least one word naming a phone and none making it a fax, a type or an extension.
fn phone(all: &[String]) -> Option<PhoneRank> {
    let mut parts: Vec<&str> = Vec::with_capacity(all.len() + 2);
    let joined: String;
    if !all.iter().all(|word| split_compound(word, &mut parts)) {
        // `WhatsApp` is split into `whats` and `app`: try the words joined.
        parts.clear();
        joined = all.concat();
        if !split_compound(&joined, &mut parts) {
            return None;
        }
    }
    let all_flags = parts.iter().fold(0, |acc, w| acc | flags(w));
    if all_flags & F_NOT_PHONE != 0 {
        return None;
    }
    let mobile = all_flags & F_MOBILE != 0;
    if !mobile && all_flags & F_PHONE == 0 {
        return None;
    }
    let other = all_flags & F_OTHER != 0;
    let kind = if mobile {
        PhoneKind::Mobile
    } else if other {
        PhoneKind::Other
    } else {
        PhoneKind::Main
    };
    let sub = if all_flags & F_FIRST != 0 {
        0
    } else if all_flags & F_MAIN != 0 || other {
        2
    } else {
        1
    };
    let number = parts
        .iter()
        .find_map(|w| w.parse::<u32>().ok())
        .unwrap_or(0)
        .min(99);
    Some(PhoneRank { kind, sub, number })
}

/// Whether `word` is phone vocabulary, possibly a compound of it (`telefonnummer`,
/// `mobiltelefon`, `homephone`); pushes its parts.
fn split_compound<'w>(word: &'w str, parts: &mut Vec<&'w str>) -> bool {
    let known = |w: &str| w.bytes().all(|b| b.is_ascii_digit()) || flags(w) & F_PHONE_VOCAB != 0;
    if known(word) {
        parts.push(word);
        return true;
    }
    if word.len() > 30 {
        return false;
    }
    // Two or three known parts; the first split that works (words are short).
    for i in 2..word.len().saturating_sub(1) {
        if !word.is_char_boundary(i) {
            continue;
        }
        let (head, tail) = word.split_at(i);
        if known(head) {
            let mark = parts.len();
            parts.push(head);
            if known(tail) {
                parts.push(tail);
                return true;
            }
            for j in 2..tail.len().saturating_sub(1) {
                let (mid, last) = tail.split_at(j);
                if known(mid) && known(last) {
                    parts.push(mid);
                    parts.push(last);
                    return true;
                }
            }
            parts.truncate(mark);
        }
    }
    false
}

/// Whether a header names the CRM's bookkeeping rather than lead data.
fn noise(header: &str, all: &[String]) -> Option<Recognised> {
    let all_flags = all.iter().fold(0, |acc, w| acc | flags(w));
    if all_flags & F_OWNER != 0 {
        return Some(Recognised::Noise("owner of the record in the CRM"));
    }
    if all_flags & F_INTERNAL != 0 {
        return Some(Recognised::Noise("internal"));
    }
    if all_flags & F_AUDIT != 0 {
        return Some(Recognised::Noise(
            "CRM bookkeeping (created/modified/activity)",
        ));
    }
    let joined: String = all.concat();
    if matches!(joined.as_str(), "isdeleted" | "deleted" | "masterrecordid") {
        return Some(Recognised::Noise("CRM bookkeeping (system field)"));
    }
    // API-style names ending in Id (`OwnerId`, `ConvertedAccountId`, `RecordTypeId`):
    // references to other records of the CRM.
    let content = all.iter().filter(|w| flags(w) & F_FILLER == 0).count();
    if content >= 2
        && all.last().is_some_and(|w| w == "id")
        && !header.contains(char::is_whitespace)
        && fields()
            .get(joined.as_str())
            .is_none_or(|(f, _)| *f != Field::LeadId)
    {
        return Some(Recognised::Noise("reference to another CRM record"));
    }
    None
}

/// The folded form of a header, for matching names given in presets and mapping files.
pub fn key(header: &str) -> String {
    fold(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone_kind(header: &str) -> Option<PhoneKind> {
        match recognise(header) {
            Recognised::Phone(rank) => Some(rank.kind),
            _ => None,
        }
    }

    fn field(header: &str) -> Option<Field> {
        match recognise(header) {
            Recognised::Field(field, _) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn phone_headers_in_seven_languages() {
        use PhoneKind::*;
        let cases: &[(&str, PhoneKind)] = &[
            // English and CRM exports
            ("Phone", Main),
            ("Phone Number", Main),
            ("phone_number", Main),
            ("Telephone", Main),
            ("Tel.", Main),
            ("Business Phone", Main),
            ("Business Phone 2", Main),
            ("Company Main Phone", Main),
            ("Primary Phone", Main),
            ("Work Phone", Main),
            ("Person - Phone - Work", Main),
            ("Phone 1 - Value", Main),
            ("Contact Number", Main),
            ("Direct Dial", Main),
            ("Mobile", Mobile),
            ("MobilePhone", Mobile),
            ("Mobile Phone Number", Mobile),
            ("Cell", Mobile),
            ("Cell Phone", Mobile),
            ("Person - Phone - Mobile", Mobile),
            ("WhatsApp", Mobile),
            ("SMS", Mobile),
            ("Home Phone", Other),
            ("Other Phone", Other),
            ("Assistant's Phone", Other),
            ("Person - Phone - Home", Other),
            ("Car Phone", Other),
            // German
            ("Telefon", Main),
            ("Telefonnummer", Main),
            ("Telefon geschäftlich", Main),
            ("Geschäftstelefon", Main),
            ("Festnetz", Main),
            ("Handy", Mobile),
            ("Handynummer", Mobile),
            ("Mobil", Mobile),
            ("Mobiltelefon", Mobile),
            ("Mobilnummer", Mobile),
            ("Telefon privat", Other),
            ("Privattelefon", Other),
            // French
            ("Téléphone", Main),
            ("Numéro de téléphone", Main),
            ("Téléphone fixe", Main),
            ("Téléphone professionnel", Main),
            ("Portable", Mobile),
            ("Téléphone portable", Mobile),
            ("Tél. mobile", Mobile),
            ("GSM", Mobile),
            ("Téléphone domicile", Other),
            // Spanish
            ("Teléfono", Main),
            ("Número de teléfono", Main),
            ("Teléfono fijo", Main),
            ("Móvil", Mobile),
            ("Teléfono móvil", Mobile),
            ("Celular", Mobile),
            // Italian
            ("Telefono", Main),
            ("Numero di telefono", Main),
            ("Cellulare", Mobile),
            ("Telefono ufficio", Main),
            ("Telefono casa", Other),
            // Portuguese
            ("Telefone", Main),
            ("Telemóvel", Mobile),
            ("Telefone celular", Mobile),
            ("Telefone residencial", Other),
            // Dutch
            ("Telefoon", Main),
            ("Telefoonnummer", Main),
            ("Mobiel", Mobile),
            ("Mobiele telefoon", Mobile),
            ("Telefoon werk", Main),
            ("Telefoon thuis", Other),
        ];
        for (header, kind) in cases {
            assert_eq!(phone_kind(header), Some(*kind), "{header}");
        }
        for header in [
            "Phone 1 - Type",
            "Phone 1 - Label",
            "Fax",
            "Business Fax",
            "Pager",
            "Phone Extension",
            "Durchwahl",
            "Mobile App Installed",
            "Phone Verified",
            "Do Not Call",
            "Telephone Opt Out",
            "Phone Country Code",
            "Mobile Opt-In",
            "SMS Opt-In",
            "SMS Consent",
        ] {
            assert_eq!(phone_kind(header), None, "{header}");
        }
    }

    #[test]
    fn phone_order_keys() {
        let rank = |h: &str| match recognise(h) {
            Recognised::Phone(r) => r,
            other => panic!("{h}: {other:?}"),
        };
        assert!(rank("Primary Phone") < rank("Phone"));
        assert!(rank("Phone") < rank("Business Phone"));
        assert!(rank("Business Phone") < rank("Mobile Phone"));
        assert!(rank("Mobile Phone") < rank("Home Phone"));
        assert!(rank("Phone 1 - Value") < rank("Phone 2 - Value"));
    }

    #[test]
    fn field_headers_in_seven_languages() {
        use Field::*;
        let cases: &[(&str, Field)] = &[
            ("First Name", FirstName),
            ("first_name", FirstName),
            ("FirstName", FirstName),
            ("Given Name", FirstName),
            ("Person - First name", FirstName),
            ("Prénom", FirstName),
            ("Vorname", FirstName),
            ("Primer nombre", FirstName),
            ("Primeiro nome", FirstName),
            ("Voornaam", FirstName),
            ("Last Name", LastName),
            ("Surname", LastName),
            ("Family Name", LastName),
            ("Nom de famille", LastName),
            ("Nachname", LastName),
            ("Apellidos", LastName),
            ("Apellido", LastName),
            ("Cognome", LastName),
            ("Sobrenome", LastName),
            ("Achternaam", LastName),
            ("Full Name", Name),
            ("Nom complet", Name),
            ("Nombre completo", Name),
            ("Nome completo", Name),
            ("Volledige naam", Name),
            ("Email", Email),
            ("E-mail", Email),
            ("E-mail Address", Email),
            ("Email Address", Email),
            ("E-mail 1 - Value", Email),
            ("Person - Email - Work", Email),
            ("Courriel", Email),
            ("Adresse e-mail", Email),
            ("E-Mail-Adresse", Email),
            ("Correo electrónico", Email),
            ("Indirizzo email", Email),
            ("Endereço de e-mail", Email),
            ("E-mailadres", Email),
            ("Status", Status),
            ("Lead Status", Status),
            ("Statut", Status),
            ("Estado", Status),
            ("Stato", Status),
            ("Country", Country),
            ("Country/Region", Country),
            ("Business Country/Region", Country),
            ("Mailing Country", Country),
            ("Pays", Country),
            ("Land", Country),
            ("País", Country),
            ("Paese", Country),
            ("Lead ID", LeadId),
            ("Record ID", LeadId),
            ("External ID", LeadId),
            ("CRM ID", LeadId),
            ("Person - ID", LeadId),
            ("lead_id", LeadId),
            ("contact_id", LeadId),
            ("LeadId", LeadId),
            ("Id", LeadId),
            ("Kundennummer", LeadId),
            ("Tags", Tags),
            ("Labels", Tags),
            ("Person - Labels", Tags),
            ("Étiquettes", Tags),
            ("Etiquetas", Tags),
        ];
        for (header, expected) in cases {
            assert_eq!(field(header), Some(*expected), "{header}");
        }
        assert_eq!(recognise("Nom"), Recognised::NameOrLast);
        assert_eq!(recognise("Name"), Recognised::NameOrLast);
        assert_eq!(recognise("Person - Name"), Recognised::NameOrLast);
        assert_eq!(recognise("Contact Name"), Recognised::NameOrLast);
        assert_eq!(recognise("Nombre"), Recognised::NameOrFirst);
        assert_eq!(recognise("Nome"), Recognised::NameOrFirst);
        for header in [
            "Company",
            "City",
            "Lead Source",
            "Notes",
            "Job Title",
            "Website",
        ] {
            assert_eq!(recognise(header), Recognised::Unknown, "{header}");
        }
    }

    #[test]
    fn headers_in_polish_swedish_danish_norwegian_finnish_and_czech() {
        use PhoneKind::*;
        for (header, kind) in [
            ("Telefon komórkowy", Mobile),
            ("Komórka", Mobile),
            ("Nr telefonu", Main),
            ("Numer telefonu komórkowego", Mobile),
            ("Telefon służbowy", Main),
            ("Telefon domowy", Other),
            ("Mobiltelefon", Mobile),
            ("Telefonnummer", Main),
            ("Tfn", Main),
            ("Hemtelefon", Other),
            ("Arbetstelefon", Main),
            ("Tlf.", Main),
            ("Mobilnr", Mobile),
            ("Telefon jobb", Main),
            ("Puhelin", Main),
            ("Puhelinnumero", Main),
            ("Matkapuhelin", Mobile),
            ("Kännykkä", Mobile),
            ("Työpuhelin", Main),
            ("Telefonní číslo", Main),
            ("Mobilní telefon", Mobile),
        ] {
            assert_eq!(phone_kind(header), Some(kind), "{header}");
        }
        for header in ["Faks", "Telefon wewn.", "Faksi", "Typ telefonu"] {
            assert_eq!(phone_kind(header), None, "{header}");
        }
        use Field::*;
        for (header, expected) in [
            ("Imię", FirstName),
            ("Nazwisko", LastName),
            ("Imię i nazwisko", Name),
            ("Kraj", Country),
            ("Förnamn", FirstName),
            ("Efternamn", LastName),
            ("Namn", Name),
            ("E-post", Email),
            ("E-postadress", Email),
            ("Land", Country),
            ("Fornavn", FirstName),
            ("Efternavn", LastName),
            ("Etternavn", LastName),
            ("Navn", Name),
            ("Etunimi", FirstName),
            ("Sukunimi", LastName),
            ("Sähköposti", Email),
            ("Maa", Country),
            ("Tila", Status),
            ("Příjmení", LastName),
            ("Země", Country),
            ("Stav", Status),
            ("Tagi", Tags),
        ] {
            assert_eq!(field(header), Some(expected), "{header}");
        }
        // Company, city, notes, position: custom fields, not lead fields.
        for header in [
            "Firma",
            "Miasto",
            "Uwagi",
            "Stanowisko",
            "Företag",
            "Ort",
            "Kommentar",
            "Titel",
            "Yritys",
            "Nazwa",
        ] {
            assert_eq!(recognise(header), Recognised::Unknown, "{header}");
        }
    }

    #[test]
    fn a_products_own_record_id() {
        for header in [
            "Apollo Contact Id",
            "ApolloContactId",
            "HubSpot Record ID",
            "Acme Lead ID",
            "Brevo Contact ID",
        ] {
            assert_eq!(
                recognise(header),
                Recognised::Field(Field::LeadId, 2),
                "{header}"
            );
        }
        // Plain forms rank before it.
        assert_eq!(recognise("Record ID"), Recognised::Field(Field::LeadId, 0));
        assert_eq!(recognise("Contact ID"), Recognised::Field(Field::LeadId, 1));
        // Another record's id, or a field that is not an id: never the lead's id.
        for header in [
            "Apollo Account Id",
            "Primary Contact ID",
            "Associated Contact ID",
            "Converted Lead ID",
            "Account Contact Id",
            "Contact Owner Id",
            "Campaign Member Id",
            "Deal Contact Id",
            "Parent Record Id",
            "Phone Contact Id",
            "Company Id",
            "Apollo Contact Status",
        ] {
            assert_ne!(field(header), Some(Field::LeadId), "{header}");
        }
    }

    #[test]
    fn noise_headers() {
        for header in [
            "Contact owner",
            "Lead Owner",
            "OwnerId",
            "Person - Owner",
            "Create Date",
            "Created Date",
            "CreatedById",
            "LastModifiedDate",
            "Last Modified By",
            "Modified Time",
            "SystemModstamp",
            "Last Activity Date",
            "Internal Notes",
            "Notes internes",
            "ConvertedAccountId",
            "IsDeleted",
            "Erstellt am",
            "Date de création",
            "Fecha de creación",
        ] {
            assert!(
                matches!(recognise(header), Recognised::Noise(_)),
                "{header}: {:?}",
                recognise(header)
            );
        }
        for header in [
            "Notes",
            "Company",
            "Description",
            "Do Not Call",
            "Lead Source",
        ] {
            assert!(
                !matches!(recognise(header), Recognised::Noise(_)),
                "{header}"
            );
        }
    }
}
