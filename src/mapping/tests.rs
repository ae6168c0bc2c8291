//! Unit tests of the mapping: header rules, presets, mapping files, phone order.

use super::*;

fn headers(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn resolve(list: &[&str]) -> Result<Mapping, MappingError> {
    Mapping::resolve(&headers(list), None, Path::new("in.csv"))
}

fn with_file(list: &[&str], toml_text: &str) -> Result<Mapping, MappingError> {
    let file: MappingFile = toml::from_str(toml_text).unwrap();
    Mapping::resolve(
        &headers(list),
        Some((Path::new("m.toml"), &file)),
        Path::new("in.csv"),
    )
}

fn targets(m: &Mapping) -> Vec<String> {
    m.columns.iter().map(|(t, _)| t.to_string()).collect()
}

/// The action of the `[status]` rule that maps `value`; panics when none does.
fn status_action<'m>(m: &'m Mapping, value: &str) -> &'m status::StatusAction {
    match m.status.classify(value) {
        status::StatusOutcome::Mapped(i) => &m.status.rules[i as usize].action,
        other => panic!("{value}: {other:?}"),
    }
}

fn phone_headers(m: &Mapping) -> Vec<&str> {
    m.phones
        .iter()
        .map(|(i, _)| m.headers[*i].as_str())
        .collect()
}

#[test]
fn recognises_common_spellings() {
    #[track_caller]
    fn case(header: &str, expected: Target) {
        let m = resolve(&[header, "Phone"]).unwrap();
        assert_eq!(m.columns[0].0, expected, "{header}");
    }
    case("Full Name", Target::Name);
    case("First Name", Target::FirstName);
    case("last_name", Target::LastName);
    case("E-mail", Target::Email);
    case("Email Address", Target::Email);
    case("Status", Target::Status);
    case("Labels", Target::Tags);
    case("Lead ID", Target::LeadId);
    case("External ID", Target::LeadId);
    case("CRM ID", Target::LeadId);
    case("Company", Target::Custom("Company".into()));
    let m = resolve(&["Mobile"]).unwrap();
    assert_eq!(m.columns[0].0, Target::Phone);
}

#[test]
fn every_phone_column_is_a_candidate_in_order() {
    let m = resolve(&[
        "Mobile",
        "Name",
        "Home Phone",
        "Phone Number",
        "Business Phone",
    ])
    .unwrap();
    assert_eq!(
        phone_headers(&m),
        ["Phone Number", "Business Phone", "Mobile", "Home Phone"]
    );
    assert_eq!(m.column_of(&Target::Phone), Some(3));
    let m = resolve(&["Telefon", "Handy", "Vorname", "Name", "Land"]).unwrap();
    assert_eq!(phone_headers(&m), ["Telefon", "Handy"]);
    assert_eq!(m.columns[2].0, Target::FirstName);
    assert_eq!(m.columns[3].0, Target::LastName);
    assert_eq!(m.columns[4].0, Target::Country);
}

#[test]
fn mapping_the_mobile_keeps_the_main_phone_a_candidate() {
    let m = with_file(
        &["Phone", "Mobile Number"],
        "[columns]\n\"Mobile Number\" = \"phone\"\n",
    )
    .unwrap();
    assert_eq!(phone_headers(&m), ["Phone", "Mobile Number"]);
    let m = with_file(
        &["Phone", "Mobile Number"],
        "phones = [\"Mobile Number\"]\n",
    )
    .unwrap();
    assert_eq!(phone_headers(&m), ["Mobile Number", "Phone"]);
    let m = with_file(
        &["Phone", "Mobile Number"],
        "[columns]\n\"Phone\" = \"ignore\"\n",
    )
    .unwrap();
    assert_eq!(phone_headers(&m), ["Mobile Number"]);
    let err = with_file(&["Phone"], "phones = [\"Mobile\"]\n").unwrap_err();
    assert!(matches!(err, MappingError::MissingColumn { .. }), "{err}");
}

#[test]
fn unmapped_columns_are_custom_fields_except_noise() {
    let m = resolve(&[
        "Phone",
        "Company",
        "Contact owner",
        "Internal Notes",
        "Create Date",
        "Notes",
    ])
    .unwrap();
    assert_eq!(
        targets(&m),
        [
            "phone",
            "customFields.Company",
            "(ignored)",
            "(ignored)",
            "(ignored)",
            "customFields.Notes"
        ]
    );
    assert!(matches!(m.columns[2].1, Origin::Noise(_)));
    let m = with_file(&["Phone", "Contact owner"], "unmapped = \"all\"\n").unwrap();
    assert_eq!(targets(&m), ["phone", "customFields.Contact owner"]);
    let m = with_file(&["Phone", "Company"], "unmapped = \"ignore\"\n").unwrap();
    assert_eq!(targets(&m), ["phone", "(ignored)"]);
}

#[test]
fn report_columns_are_ignored() {
    let m = resolve(&[
        "_row",
        "_error_class",
        "_error_field",
        "_error_message",
        "phone",
    ])
    .unwrap();
    assert!(
        m.columns[..4]
            .iter()
            .all(|(t, o)| *t == Target::Ignore && *o == Origin::Report)
    );
}

#[test]
fn no_phone_is_a_config_error() {
    let err = resolve(&["name", "email"]).unwrap_err();
    assert!(matches!(err, MappingError::NoPhone { .. }), "{err}");
    assert!(err.to_string().contains("`name`, `email`"));
}

#[test]
fn mapping_file_overrides_and_checks_columns() {
    let toml_text = r#"
        unmapped = "ignore"
        [columns]
        "Tel" = "phone"
        "Ref" = "lead_id"
        "Company" = "custom:company"
    "#;
    let m = with_file(&["Ref", "Tel", "Company", "Notes", "Email"], toml_text).unwrap();
    assert_eq!(
        targets(&m),
        [
            "lead_id",
            "phone",
            "customFields.company",
            "(ignored)",
            "email"
        ]
    );
    let err = with_file(&["Tel"], toml_text).unwrap_err();
    assert!(matches!(err, MappingError::MissingColumn { .. }), "{err}");
}

#[test]
fn two_columns_on_one_field_conflict() {
    let err = with_file(
        &["A", "B", "P"],
        "[columns]\n\"A\" = \"email\"\n\"B\" = \"email\"\n",
    )
    .unwrap_err();
    assert!(matches!(err, MappingError::Conflict { .. }), "{err}");
    // Several phone columns are candidates, not a conflict.
    let m = with_file(
        &["A", "B"],
        "[columns]\n\"A\" = \"phone\"\n\"B\" = \"phone\"\n",
    )
    .unwrap();
    assert_eq!(phone_headers(&m), ["A", "B"]);
}

#[test]
fn unknown_targets_statuses_and_countries_are_rejected_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    for (text, part) in [
        ("[columns]\n\"A\" = \"telephone\"\n", "telephone"),
        ("[status]\n\"Open\" = \"opened\"\n", "opened"),
        ("[countries]\n\"Narnia\" = \"NN\"\n", "NN"),
        ("preset = \"sugarcrm\"\n", "sugarcrm"),
        ("unknown_status = \"maybe\"\n", "maybe"),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = MappingFile::load(&path).unwrap_err().to_string();
        assert!(err.contains(part), "{text}: {err}");
    }
}

fn hubspot_headers() -> Vec<&'static str> {
    vec![
        "Record ID",
        "First Name",
        "Last Name",
        "Email",
        "Phone Number",
        "Mobile Phone Number",
        "Lead Status",
        "Lifecycle Stage",
        "Contact owner",
        "Create Date",
        "Country/Region",
        "Company Name",
    ]
}

#[test]
fn a_detected_preset_decides_ids_phones_status_and_noise() {
    let m = resolve(&hubspot_headers()).unwrap();
    let (preset, how) = m.preset.unwrap();
    assert_eq!(preset.name, "hubspot");
    assert!(matches!(how, PresetHow::Detected(n) if n >= 4));
    assert_eq!(
        targets(&m),
        [
            "lead_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "phone",
            "status",
            "customFields.Lifecycle Stage",
            "(ignored)",
            "(ignored)",
            "country",
            "customFields.Company Name"
        ]
    );
    assert_eq!(m.columns[8].1, Origin::PresetNoise);
    assert_eq!(phone_headers(&m), ["Phone Number", "Mobile Phone Number"]);
    let open = m.status.classify("Open");
    assert!(matches!(open, status::StatusOutcome::Mapped(_)));
    let table = m.table(country::parse_region("US").unwrap());
    assert!(table.contains("preset:  hubspot"), "{table}");
    assert!(table.contains("\"Open\" → new (preset hubspot)"), "{table}");
}

#[test]
fn preset_can_be_forced_or_turned_off_and_the_file_overrides_it() {
    let list = hubspot_headers();
    let off = Mapping::resolve_with(
        &headers(&list),
        None,
        Path::new("in.csv"),
        &MappingOptions {
            preset: Some("none".into()),
            unknown_status: None,
        },
    )
    .unwrap();
    assert!(off.preset.is_none());
    // Without the preset the header rules still find the fields, and the owner is noise.
    assert_eq!(off.columns[0].0, Target::LeadId);
    assert!(matches!(off.columns[8].1, Origin::Noise(_)));
    let forced = Mapping::resolve_with(
        &headers(&["Phone", "Lead Status"]),
        None,
        Path::new("in.csv"),
        &MappingOptions {
            preset: Some("salesforce-report".into()),
            unknown_status: Some(UnknownStatus::Reject),
        },
    )
    .unwrap();
    assert_eq!(forced.preset.unwrap().1, PresetHow::Flag);
    assert_eq!(forced.status.policy, UnknownStatus::Reject);
    assert_eq!(forced.policy_source, PolicySource::Flag);
    // Field by field: the file maps the owner and the mobile; the rest is the preset's.
    let m = with_file(
        &list,
        "[columns]\n\"Contact owner\" = \"custom:owner\"\n\"Mobile Phone Number\" = \"ignore\"\n[status]\n\"Open\" = \"contacted\"\n",
    )
    .unwrap();
    assert_eq!(m.columns[8].0, Target::Custom("owner".into()));
    assert_eq!(phone_headers(&m), ["Phone Number"]);
    assert_eq!(
        *status_action(&m, "open"),
        status::StatusAction::Set(crate::lead::Status::Contacted)
    );
    let err = Mapping::resolve_with(
        &headers(&list),
        None,
        Path::new("in.csv"),
        &MappingOptions {
            preset: Some("sugarcrm".into()),
            unknown_status: None,
        },
    )
    .unwrap_err();
    assert!(matches!(err, MappingError::UnknownPreset { .. }), "{err}");
}

#[test]
fn the_extension_key_avoids_a_column_of_that_name() {
    let m = with_file(
        &["Phone", "X"],
        "[columns]\n\"X\" = \"custom:phone_extension\"\n",
    )
    .unwrap();
    assert_eq!(m.extension_key, "phone_extension_2");
}

#[test]
fn fingerprint_is_absent_for_a_plain_file_and_present_otherwise() {
    assert!(resolve(&["phone", "name"]).unwrap().fingerprint().is_none());
    assert!(
        resolve(&["phone", "mobile"])
            .unwrap()
            .fingerprint()
            .is_some()
    );
    assert!(resolve(&hubspot_headers()).unwrap().fingerprint().is_some());
    let m = with_file(&["phone"], "[status]\n\"Open\" = \"new\"\n").unwrap();
    let a = m.fingerprint().unwrap();
    let m = with_file(&["phone"], "[status]\n\"Open\" = \"contacted\"\n").unwrap();
    assert_ne!(a, m.fingerprint().unwrap());
}

#[test]
fn columns_of_international_digits_from_a_preset_or_the_mapping_file() {
    let brevo = [
        "EMAIL",
        "NOM",
        "PRENOM",
        "SMS",
        "LANDLINE_NUMBER",
        "WHATSAPP",
        "ADDED_TIME",
        "MODIFIED_TIME",
    ];
    let m = resolve(&brevo).unwrap();
    assert_eq!(m.preset.unwrap().0.name, "brevo");
    assert_eq!(phone_headers(&m), ["LANDLINE_NUMBER", "SMS", "WHATSAPP"]);
    assert_eq!(m.international, [3, 5]);
    assert_eq!(m.international_from, Some(Origin::Preset));
    assert_eq!(
        targets(&m),
        [
            "email",
            "last_name",
            "first_name",
            "phone",
            "phone",
            "phone",
            "(ignored)",
            "(ignored)"
        ]
    );
    let table = m.table(country::parse_region("FR").unwrap());
    assert!(
        table.contains("phone (2nd of 3, mobile, digits with country code)"),
        "{table}"
    );
    assert!(
        table
            .contains("SMS, WHATSAPP hold numbers with their country code and no + (preset brevo)"),
        "{table}"
    );
    let fp = m.fingerprint().unwrap();
    assert_eq!(fp["international"], serde_json::json!(["SMS", "WHATSAPP"]));
    // Without the preset, SMS is no phone and nothing is read as international.
    let off = Mapping::resolve_with(
        &headers(&brevo),
        None,
        Path::new("in.csv"),
        &MappingOptions {
            preset: Some("none".into()),
            unknown_status: None,
        },
    )
    .unwrap();
    assert!(off.international.is_empty());
    assert!(off.fingerprint().unwrap().get("international").is_none());
    // A mapping file says so for its own columns, and must name columns the file has.
    let m = with_file(&["Mobile", "Phone"], "international = [\"Mobile\"]\n").unwrap();
    assert_eq!(m.international, [0]);
    assert_eq!(m.international_from, Some(Origin::File));
    let err = with_file(&["Mobile", "Phone"], "international = [\"SMS\"]\n").unwrap_err();
    assert!(matches!(err, MappingError::MissingColumn { .. }), "{err}");
    // A column that is not a phone is not read so.
    let m = with_file(&["Phone", "Notes"], "international = [\"Notes\"]\n").unwrap();
    assert!(m.international.is_empty());
}

#[test]
fn the_apollo_preset() {
    let apollo = [
        "First Name",
        "Last Name",
        "Company Name for Emails",
        "Email",
        "Primary Email Source",
        "Contact Owner",
        "Work Direct Phone",
        "Home Phone",
        "Mobile Phone",
        "Corporate Phone",
        "Other Phone",
        "Stage",
        "Country",
        "Company Phone",
        "Apollo Contact Id",
        "Apollo Account Id",
    ];
    let m = resolve(&apollo).unwrap();
    assert_eq!(m.preset.unwrap().0.name, "apollo");
    assert_eq!(m.column_of(&Target::LeadId), Some(14));
    assert_eq!(
        phone_headers(&m),
        [
            "Work Direct Phone",
            "Mobile Phone",
            "Corporate Phone",
            "Home Phone",
            "Other Phone"
        ]
    );
    assert_eq!(m.columns[13].0, Target::Custom("Company Phone".into()));
    assert_eq!(m.columns[15].0, Target::Ignore);
    // Without the preset the header rules still take Apollo's own id.
    let mut generic: Vec<&str> = vec!["Email", "Phone", "Apollo Contact Id", "Apollo Account Id"];
    let m = resolve(&generic).unwrap();
    assert!(m.preset.is_none());
    assert_eq!(m.column_of(&Target::LeadId), Some(2));
    generic.push("Id");
    assert_eq!(
        resolve(&generic).unwrap().column_of(&Target::LeadId),
        Some(4)
    );
}

#[test]
fn the_dynamics_365_preset() {
    let dynamics = [
        "(Do Not Modify) Lead",
        "(Do Not Modify) Row Checksum",
        "(Do Not Modify) Modified On",
        "Name",
        "Topic",
        "Status Reason",
        "Business Phone",
        "Mobile Phone",
        "Email",
        "Country/Region",
        "Owner",
    ];
    let m = resolve(&dynamics).unwrap();
    assert_eq!(m.preset.unwrap().0.name, "dynamics365");
    assert_eq!(
        targets(&m),
        [
            "lead_id",
            "(ignored)",
            "(ignored)",
            "name",
            "customFields.Topic",
            "status",
            "phone",
            "phone",
            "email",
            "country",
            "(ignored)"
        ]
    );
    for (value, status) in [
        ("Cannot Contact", "disqualified"),
        ("No Longer Interested", "disqualified"),
        ("Open", "(no status)"),
    ] {
        assert_eq!(status_action(&m, value).to_string(), status, "{value}");
    }
}

#[test]
fn the_close_keap_and_monday_presets() {
    let close = [
        "id",
        "display_name",
        "status_label",
        "primary_contact_name",
        "primary_contact_primary_phone",
        "primary_contact_primary_phone_type",
        "primary_contact_other_phones",
        "primary_contact_primary_email",
        "address_1_country",
        "html_url",
    ];
    let m = resolve(&close).unwrap();
    assert_eq!(m.preset.unwrap().0.name, "close");
    // The lead is a company: its name is a custom field, the person is the lead's name.
    assert_eq!(m.columns[1].0, Target::Custom("Company".into()));
    assert_eq!(m.columns[3].0, Target::Name);

    let keap = [
        "Id",
        "First Name",
        "Email",
        "Phone 1",
        "Phone 1 Ext",
        "Phone 1 Type",
        "Phone 2",
        "Phone 2 Ext",
        "Phone 2 Type",
        "Street Address 1",
        "Person Type",
        "Owner",
    ];
    let m = resolve(&keap).unwrap();
    assert_eq!(m.preset.unwrap().0.name, "keap");
    assert_eq!(m.column_of(&Target::LeadId), Some(0));
    assert_eq!(phone_headers(&m), ["Phone 1", "Phone 2"]);
    assert_eq!(m.columns[4].0, Target::Custom("Phone 1 Ext".into()));

    let monday = [
        "Name",
        "Subitems",
        "Person",
        "Status",
        "Phone",
        "Item ID (auto generated)",
    ];
    let m = resolve(&monday).unwrap();
    assert_eq!(m.preset.unwrap().0.name, "monday");
    assert_eq!(
        targets(&m),
        [
            "name",
            "(ignored)",
            "(ignored)",
            "status",
            "phone",
            "lead_id"
        ]
    );
}
