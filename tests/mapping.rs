//! Mapping end to end through `nl-import check`: CRM exports and spreadsheets as their
//! products write them (header names, status values, multi-value cells, extensions,
//! placeholders, country names), with no mapping file; the exact payloads an import would
//! send (`--emit-valid`), the rejected rows, and what `summary.json`, stderr and
//! `--print-mapping` say was decided.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nl-import");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    dir: PathBuf,
}

impl Run {
    fn summary(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("report/summary.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn leads(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("valid.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// `(row, class, message)` of every rejected row.
    fn rejected(&self) -> Vec<(u64, String, String)> {
        let mut reader = csv::Reader::from_path(self.dir.join("report/rejected.csv")).unwrap();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].parse().unwrap(), r[1].to_owned(), r[3].to_owned())
            })
            .collect()
    }

    #[track_caller]
    fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Writes `name` in a fresh directory and runs `check` on it with `extra` flags, the valid
/// leads going to `valid.jsonl`.
fn check(name: &str, content: impl AsRef<[u8]>, extra: &[&str]) -> (tempfile::TempDir, Run) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    let output = Command::new(BIN)
        .arg("check")
        .arg(&path)
        .args(["--report-dir", "report", "--emit-valid", "valid.jsonl"])
        .args(extra)
        .current_dir(dir.path())
        .env_remove("NL_IMPORT_DEFAULT_REGION")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        dir: dir.path().to_owned(),
    };
    (dir, run)
}

fn print_mapping(name: &str, content: &str, extra: &[&str]) -> String {
    let (_dir, run) = check(name, content, &[&["--print-mapping"], extra].concat());
    run.expect_code(0);
    run.stdout
}

const HUBSPOT: &str = "\
Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Lead Status,Lifecycle Stage,Contact owner,Create Date,Last Activity Date,Country/Region,Company Name
101,Ada,Lovelace,ada@example.com,+44 20 7946 0958,,New,Lead,Owner One,2024-03-01 10:00,2024-03-04 09:00,United Kingdom,Engines Ltd
102,Grace,Hopper,grace@example.com,,(212) 555-0143,Open,Lead,Owner One,2024-03-01 10:01,,United States,Navy
103,Alan,Turing,alan@example.com,N/A,+44 7911 123456,In Progress,Marketing Qualified Lead,Owner Two,2024-03-01 10:02,,UK,
104,Katherine,Johnson,kj@example.com,757-555-0198 x204,,Unqualified,Other,Owner Two,2024-03-01 10:03,,USA,NASA
105,Hedy,Lamarr,hedy@example.com,,,Attempted to Contact,Lead,Owner One,2024-03-01 10:04,,Austria,
106,Edsger,Dijkstra,ed@example.com,+31 20 525 9111,,Waiting on Legal,Lead,Owner One,2024-03-01 10:05,,Nederland,CWI
";

#[test]
fn a_hubspot_export_imports_as_it_is() {
    let (_dir, run) = check("hubspot-crm-exports-all-contacts.csv", HUBSPOT, &[]);
    run.expect_code(3);
    assert!(run.stderr.contains("preset hubspot"), "{}", run.stderr);
    let leads = run.leads();
    assert_eq!(
        leads[0],
        json!({"lead_id": "101", "name": "Ada Lovelace", "phone": "+442079460958",
               "email": "ada@example.com", "status": "new",
               "customFields": {"Lifecycle Stage": "Lead", "Company Name": "Engines Ltd"}})
    );
    // No phone number: the mobile is sent, the owner and HubSpot's dates are not.
    assert_eq!(
        leads[1],
        json!({"lead_id": "102", "name": "Grace Hopper", "phone": "+12125550143",
               "email": "grace@example.com", "status": "new",
               "customFields": {"Lifecycle Stage": "Lead", "Company Name": "Navy"}})
    );
    // A placeholder phone is no phone: the mobile, read in the row's country.
    assert_eq!(leads[2]["phone"], "+447911123456");
    assert_eq!(leads[2]["status"], "contacted");
    // The extension is kept; Unqualified is disqualified, never qualified.
    assert_eq!(leads[3]["phone"], "+17575550198");
    assert_eq!(leads[3]["status"], "disqualified");
    assert_eq!(leads[3]["customFields"]["phone_extension"], "204");
    // A status value nothing maps: the lead goes without a status, and the value is listed.
    assert_eq!(leads[4]["lead_id"], "106");
    assert!(leads[4].get("status").is_none(), "{}", leads[4]);
    assert_eq!(leads.len(), 5);
    let rejected = run.rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].0, rejected[0].1.as_str()),
        (5, "missing_phone")
    );
    assert!(
        rejected[0].2.contains("Phone Number, Mobile Phone Number"),
        "{rejected:?}"
    );

    let summary = run.summary();
    let mapping = &summary["mapping"];
    assert_eq!(mapping["preset"]["name"], "hubspot");
    assert_eq!(mapping["preset"]["how"], "detected");
    assert_eq!(
        mapping["phones"]["columns"],
        json!(["Phone Number", "Mobile Phone Number"])
    );
    assert_eq!(
        mapping["phones"]["taken_from_later_column"],
        json!([{"value": "Mobile Phone Number", "rows": 2}])
    );
    assert_eq!(mapping["phones"]["extensions_kept"], 1);
    assert_eq!(mapping["status"]["rows_with_unknown_status"], 1);
    assert_eq!(
        mapping["status"]["unknown_values"],
        json!([{"value": "Waiting on Legal", "rows": 1, "did_you_mean": null}])
    );
    let open = mapping["status"]["mapped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["value"] == "Open")
        .unwrap();
    assert_eq!(open["status"], "new");
    assert_eq!(open["by"], "preset hubspot");
    assert_eq!(open["rows"], 1);
    let dropped: Vec<&str> = mapping["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["column"].as_str().unwrap())
        .collect();
    assert_eq!(
        dropped,
        ["Contact owner", "Create Date", "Last Activity Date"]
    );
}

#[test]
fn print_mapping_on_hubspot_and_salesforce_exports() {
    let table = print_mapping("hubspot.csv", HUBSPOT, &[]);
    for part in [
        "Phone Number",
        "phone (1st of 2, main)",
        "phone (2nd of 2, mobile)",
        "noise (preset hubspot)",
        "preset:  hubspot (HubSpot contacts export), recognised from",
        "\"Open\" → new (preset hubspot)",
        "\"Unqualified\" → disqualified (preset hubspot)",
        "values nothing maps are imported without a status",
    ] {
        assert!(table.contains(part), "{part}:\n{table}");
    }
    let salesforce = "Lead Owner,First Name,Last Name,Title,Company / Account,Phone,Mobile,Email,Lead Source,Lead Status,Rating,Country,Create Date\n\
                      Owner,Ada,Lovelace,CTO,Engines,+44 20 7946 0958,,ada@example.com,Web,Open - Not Contacted,Hot,United Kingdom,3/1/2024\n";
    let table = print_mapping("report.csv", salesforce, &[]);
    assert!(table.contains("preset:  salesforce-report"), "{table}");
    assert!(
        table.contains("\"Working - Contacted\" → contacted"),
        "{table}"
    );
    let off = print_mapping("report.csv", salesforce, &["--preset", "none"]);
    assert!(off.contains("preset:  none"), "{off}");
}

#[test]
fn salesforce_report_and_data_export() {
    let report = "\
Lead Owner,First Name,Last Name,Title,Company / Account,Phone,Mobile,Email,Lead Source,Lead Status,Rating,Country,Create Date
Owner A,Ada,Lovelace,CTO,Engines,+44 20 7946 0958,,ada@example.com,Web,Open - Not Contacted,Hot,United Kingdom,3/1/2024
Owner A,Grace,Hopper,Admiral,Navy,,(212) 555-0143,grace@example.com,Phone Inquiry,Working - Contacted,Warm,USA,3/1/2024
Owner B,Alan,Turing,,Bletchley,+44 161 496 0312,,alan@example.com,,Closed - Converted,,England,3/2/2024
Owner B,Hedy,Lamarr,,MGM,+1 310 555 0177,,hedy@example.com,,Closed - Not Converted,,United States,3/2/2024
";
    let (_dir, run) = check("report1234.csv", report, &[]);
    run.expect_code(0);
    let leads = run.leads();
    let statuses: Vec<&str> = leads
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["new", "contacted", "qualified", "disqualified"]);
    assert_eq!(leads[1]["phone"], "+12125550143");
    assert_eq!(leads[0]["customFields"]["Lead Source"], "Web");
    assert!(leads[0]["customFields"].get("Lead Owner").is_none());

    let export = "\
Id,IsDeleted,MasterRecordId,LastName,FirstName,Salutation,Title,Company,Country,Phone,MobilePhone,Email,LeadSource,Status,OwnerId,IsConverted,CreatedDate,CreatedById,LastModifiedDate,LastModifiedById,SystemModstamp
00Q5g00000AbCdEAA1,false,,Lovelace,Ada,Ms.,CTO,Engines,GB,020 7946 0958,,ada@example.com,Web,Open - Not Contacted,0055g00000XyZAAA,false,2024-03-01T10:00:00.000Z,0055g00000XyZAAA,2024-03-02T10:00:00.000Z,0055g00000XyZAAA,2024-03-02T10:00:00.000Z
00Q5g00000AbCdFAA1,false,,Hopper,Grace,,,Navy,US,,2125550143,grace@example.com,,Working - Contacted,0055g00000XyZAAA,false,2024-03-01T10:00:00.000Z,0055g00000XyZAAA,2024-03-02T10:00:00.000Z,0055g00000XyZAAA,2024-03-02T10:00:00.000Z
";
    let (_dir, run) = check("Lead.csv", export, &[]);
    run.expect_code(0);
    let leads = run.leads();
    assert_eq!(
        leads[0],
        json!({"lead_id": "00Q5g00000AbCdEAA1", "name": "Ada Lovelace", "phone": "+442079460958",
               "email": "ada@example.com", "status": "new",
               "customFields": {"Salutation": "Ms.", "Title": "CTO", "Company": "Engines", "LeadSource": "Web"}})
    );
    assert_eq!(leads[1]["phone"], "+12125550143");
    assert_eq!(leads[1]["status"], "contacted");
    assert_eq!(
        run.summary()["mapping"]["preset"]["name"],
        "salesforce-export"
    );
}

#[test]
fn pipedrive_zoho_google_outlook_mailchimp() {
    let pipedrive = "\
Person - ID,Person - Name,Person - Organization,Person - Email - Work,Person - Phone - Work,Person - Phone - Mobile,Person - Owner,Person - Labels,Person - Person created
7,Ada Lovelace,Engines,ada@example.com,,+44 7911 123456,Owner,\"Hot lead, VIP\",2024-03-01 10:00:00
";
    let (_dir, run) = check("people-123.csv", pipedrive, &[]);
    run.expect_code(0);
    assert_eq!(
        run.leads()[0],
        json!({"lead_id": "7", "name": "Ada Lovelace", "phone": "+447911123456",
               "email": "ada@example.com", "tags": ["Hot lead", "VIP"],
               "customFields": {"Person - Organization": "Engines"}})
    );

    let zoho = "\
Record Id,Lead Owner,Company,First Name,Last Name,Email,Phone,Mobile,Lead Source,Lead Status,Created By,Modified By,Created Time,Modified Time,Country
zcrm_4876876000000328001,Owner,Engines,Ada,Lovelace,ada@example.com,+44 20 7946 0958,,Web,-None-,Owner,Owner,2024-03-01 10:00:00,2024-03-01 10:00:00,United Kingdom
zcrm_4876876000000328002,Owner,Navy,Grace,Hopper,grace@example.com,,(212) 555-0143,Web,Not Contacted,Owner,Owner,2024-03-01 10:00:00,2024-03-01 10:00:00,United States
zcrm_4876876000000328003,Owner,MGM,Hedy,Lamarr,hedy@example.com,+1 310 555 0177,,Web,Junk Lead,Owner,Owner,2024-03-01 10:00:00,2024-03-01 10:00:00,United States
";
    let (_dir, run) = check("Leads_2024.csv", zoho, &[]);
    run.expect_code(0);
    let leads = run.leads();
    assert_eq!(leads[0]["lead_id"], "zcrm_4876876000000328001");
    assert!(leads[0].get("status").is_none());
    assert_eq!(leads[1]["status"], "new");
    assert_eq!(leads[2]["status"], "disqualified");
    assert_eq!(run.summary()["mapping"]["preset"]["name"], "zoho");

    let google = "\
Name,Given Name,Additional Name,Family Name,Yomi Name,Group Membership,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,Phone 2 - Value
Ada Lovelace,Ada,,Lovelace,,* myContacts ::: Friends,* Home,ada@example.com,Mobile,+1 650-253-0000 ::: +1 650-253-0001,Work,+1 650-253-0002
";
    let (_dir, run) = check("contacts.csv", google, &[]);
    run.expect_code(0);
    let lead = &run.leads()[0];
    assert_eq!(lead["phone"], "+16502530000");
    assert_eq!(lead["tags"], json!(["Friends"]));
    // The second number of the cell and the second phone are kept, not dropped.
    assert_eq!(
        lead["customFields"]["Phone 1 - Value"],
        "+1 650-253-0000 ::: +1 650-253-0001"
    );
    assert_eq!(lead["customFields"]["Phone 2 - Value"], "+1 650-253-0002");
    assert_eq!(run.summary()["mapping"]["phones"]["multi_value_cells"], 1);

    let outlook = "\
First Name,Middle Name,Last Name,Title,E-mail Address,Primary Phone,Home Phone,Mobile Phone,Business Phone,Business Fax,Company,Job Title,Business Country/Region,Categories
Ada,,Lovelace,,ada@example.com,,,+44 7911 123456,+44 20 7946 0958,+44 20 7946 0000,Engines,CTO,United Kingdom,VIP;Customers
";
    let (_dir, run) = check("outlook.csv", outlook, &[]);
    run.expect_code(0);
    let lead = &run.leads()[0];
    assert_eq!(lead["phone"], "+442079460958", "business before mobile");
    assert_eq!(lead["customFields"]["Mobile Phone"], "+44 7911 123456");
    assert_eq!(lead["tags"], json!(["VIP", "Customers"]));

    let mailchimp = "\
Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS
ada@example.com,Ada,Lovelace,,(212) 555-0143,2,2024-01-01 10:00:00,203.0.113.5,2024-01-01 10:05:00,203.0.113.5,40.7,-74.0,-5,-4,America/New_York,US,NY,2024-01-15 10:00:00,123456,abcdef1234,likes engines,\"\"\"Customer\"\",\"\"VIP\"\"\"
";
    let (_dir, run) = check("subscribed_members_export.csv", mailchimp, &[]);
    run.expect_code(0);
    assert_eq!(
        run.leads()[0],
        json!({"lead_id": "phone:+12125550143", "name": "Ada Lovelace", "phone": "+12125550143",
               "email": "ada@example.com", "tags": ["Customer", "VIP"],
               "customFields": {"NOTES": "likes engines"}})
    );
}

#[test]
fn spreadsheets_in_german_french_and_spanish() {
    let german = "\
Vorname;Nachname;Telefon;Handy;E-Mail;Land;Status
Emmy;Noether;030 901820 Durchwahl 12;;emmy@example.de;Deutschland;Neu
Lise;Meitner;k.A.;0664 1234567;lise@example.at;Österreich;Kontaktiert
Max;Planck;4915112345678;;max@example.de;Deutschland;Qualifiziert
Erwin;Schrödinger;-;;erwin@example.ch;Schweiz;
";
    let (_dir, run) = check("Kontakte.csv", german, &[]);
    run.expect_code(3);
    let leads = run.leads();
    assert_eq!(
        leads[0],
        json!({"lead_id": "phone:+4930901820", "name": "Emmy Noether", "phone": "+4930901820",
               "email": "emmy@example.de", "status": "new",
               "customFields": {"phone_extension": "12"}})
    );
    assert_eq!(leads[1]["phone"], "+436641234567");
    assert_eq!(leads[1]["status"], "contacted");
    // A number cell that lost its +: the international reading, counted.
    assert_eq!(leads[2]["phone"], "+4915112345678");
    assert_eq!(leads[2]["status"], "qualified");
    let rejected = run.rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        rejected[0].1, "missing_phone",
        "a placeholder is a missing phone"
    );
    let summary = run.summary();
    assert_eq!(summary["mapping"]["phones"]["read_as_international"], 1);
    assert_eq!(
        summary["mapping"]["phones"]["columns"],
        json!(["Telefon", "Handy"])
    );

    let french = "\
Prénom;Nom;Téléphone;Portable;Courriel;Pays;Statut
Marie;Curie;01 42 68 53 00 poste 214;;marie@example.fr;France;Nouveau
Irène;Joliot;néant;06 12 34 56 78;irene@example.fr;Belgique;Contacté
";
    let (_dir, run) = check("contacts.csv", french, &[]);
    run.expect_code(3);
    let leads = run.leads();
    assert_eq!(leads[0]["name"], "Marie Curie");
    assert_eq!(leads[0]["phone"], "+33142685300");
    assert_eq!(leads[0]["customFields"]["phone_extension"], "214");
    assert_eq!(leads[0]["status"], "new");
    // 06… is not a Belgian number: rejected rather than read in France.
    let rejected = run.rejected();
    assert_eq!(rejected[0].1, "invalid_phone", "{rejected:?}");

    let spanish = "\
Nombre,Apellidos,Teléfono,Móvil,Correo electrónico,País,Estado
Ada,Lovelace,,612 34 56 78,ada@example.es,España,Nuevo
Grace,Hopper,55 1234 5678,,grace@example.mx,México,Contactado
";
    let (_dir, run) = check("clientes.csv", spanish, &[]);
    run.expect_code(0);
    let leads = run.leads();
    assert_eq!(leads[0]["name"], "Ada Lovelace");
    assert_eq!(leads[0]["phone"], "+34612345678");
    assert_eq!(leads[1]["phone"], "+525512345678");
    assert_eq!(leads[1]["status"], "contacted");
}

#[test]
fn countries_not_understood_fall_back_to_the_default_region_and_are_listed() {
    let csv = "\
name,phone,country
Ada,+44 20 7946 0958,Narnia
Bob,(212) 555-0143,Narnia
Cy,(212) 555-0144,N/A
Di,+33 1 42 68 53 00,Atlantis
Ed,020 7946 0959,Narnia
";
    let (_dir, run) = check("c.csv", csv, &[]);
    run.expect_code(3);
    let leads = run.leads();
    let phones: Vec<&str> = leads.iter().map(|l| l["phone"].as_str().unwrap()).collect();
    // Numbers with their country code keep it; national ones are read in the default
    // region (US), where Ed's London number is not valid: rejected, the country named.
    assert_eq!(
        phones,
        [
            "+442079460958",
            "+12125550143",
            "+12125550144",
            "+33142685300"
        ]
    );
    let rejected = run.rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].0, rejected[0].1.as_str()),
        (5, "invalid_phone")
    );
    assert!(rejected[0].2.contains("Narnia"), "{rejected:?}");
    let country = &run.summary()["mapping"]["country"];
    assert_eq!(
        country["unknown_values"],
        json!([{"value": "Narnia", "rows": 2}, {"value": "Atlantis", "rows": 1}])
    );
    assert_eq!(
        run.summary()["mapping"]["phones"]["read_in_default_region"],
        2
    );
}

#[test]
fn lost_digits_and_unknown_statuses_under_each_policy() {
    let csv = "\
name,phone,status
Ada,4.91511E+12,new
Bob,+1 212 555 0143,Unqualified
Cy,+1 212 555 0144,Not Contacted
Di,+1 212 555 0145,qualifed
";
    let (_dir, run) = check("s.csv", csv, &["--default-region", "DE"]);
    run.expect_code(3);
    let rejected = run.rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].1, "invalid_phone");
    assert!(
        rejected[0].2.contains("scientific notation") && rejected[0].2.contains("Text"),
        "{rejected:?}"
    );
    let status = &run.summary()["mapping"]["status"];
    assert_eq!(status["unknown_policy"], "omit");
    assert_eq!(status["rows_with_unknown_status"], 2);
    let hints: Vec<(&str, &Value)> = status["unknown_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["value"].as_str().unwrap(), &v["did_you_mean"]))
        .collect();
    assert!(
        hints.contains(&("qualifed", &json!("qualified"))),
        "{hints:?}"
    );
    assert!(
        hints.contains(&("Not Contacted", &Value::Null)),
        "{hints:?}"
    );

    let (_dir, run) = check("s.csv", csv, &["--unknown-status", "reject"]);
    run.expect_code(3);
    let rejected = run.rejected();
    let by_row: Vec<(u64, &str)> = rejected.iter().map(|r| (r.0, r.1.as_str())).collect();
    assert_eq!(
        by_row,
        [
            (1, "invalid_phone"),
            (3, "invalid_status"),
            (4, "invalid_status")
        ]
    );
    assert!(!rejected[1].2.contains("did you mean"), "{rejected:?}");
    assert!(
        rejected[2].2.contains("did you mean `qualified`?"),
        "{rejected:?}"
    );
}

#[test]
fn preset_flag_values() {
    let (_dir, run) = check(
        "h.csv",
        HUBSPOT,
        &["--preset", "sugarcrm", "--print-mapping"],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("hubspot"), "{}", run.stderr);
    let (_dir, run) = check("h.csv", HUBSPOT, &["--unknown-status", "maybe"]);
    run.expect_code(2);
}
