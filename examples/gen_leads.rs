//! Writes a realistic, deterministic CSV export of leads to stdout, for benchmarks.
//!
//! ```sh
//! cargo run --release --example gen_leads -- --rows 1000000 [--invalid-ratio 0.05] [--seed 1] > leads.csv
//! ```
//!
//! Columns: `lead_id,name,phone,email,status,tags,company,country,signup_date`. Phones are
//! real-looking numbers of four countries (US, GB, DE, FR) in mixed national and
//! international formats, with the `country` column set whenever a national format needs
//! it; every valid phone and lead_id is distinct, so a file with `--invalid-ratio 0` checks
//! clean. With a ratio `R`, about `R` of the rows carry one problem each (missing or short
//! phone, misspelt status, implausible email, broken JSON tags, a repeated phone or a
//! wrong number of fields), spread evenly over the kinds.
//!
//! The same arguments always give the same bytes. The generator streams (constant memory)
//! and writes a few million rows a second.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Marie",
    "Emmy",
    "Hedy",
    "Edsger",
    "Margaret",
    "Tim",
    "Sofia",
    "Srinivasa",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Ken",
    "Lynn",
    "Dennis",
    "Shafi",
    "Leslie",
    "Niklaus",
    "Adele",
    "Claude",
    "Jean",
    "Mary",
    "Carl",
    "Ida",
    "José",
    "Zoë",
    "Renée",
    "Søren",
    "Łukasz",
    "Ngozi",
    "Mei",
    "Hiroshi",
    "Priya",
    "Ahmed",
    "Olga",
];

const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Curie",
    "Noether",
    "Lamarr",
    "Dijkstra",
    "Hamilton",
    "Berners-Lee",
    "Kovalevskaya",
    "Ramanujan",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Perlman",
    "Thompson",
    "Conway",
    "Ritchie",
    "Goldwasser",
    "Lamport",
    "Wirth",
    "Goldberg",
    "Shannon",
    "Sammet",
    "Keller",
    "Gauss",
    "Rhodes",
    "García",
    "Müller",
    "O'Brien",
    "Nguyen",
    "Kowalski",
    "Okafor",
    "Chen",
    "Tanaka",
    "Patel",
    "Hassan",
    "Ivanova",
];

const COMPANIES: &[&str] = &[
    "Analytical Engines Ltd",
    "Cobol Corp",
    "Bletchley Park",
    "NASA Langley",
    "Institut du Radium",
    "Mathematisch Centrum",
    "Acme, Inc.",
    "Globex",
    "Initech",
    "Umbrella \"Bio\" GmbH",
    "Stark Industries",
    "Wayne Enterprises",
    "",
];

const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "mail.example.net",
    "example.co.uk",
    "example.de",
    "example.fr",
];

const STATUSES: &[&str] = &[
    "new",
    "contacted",
    "qualified",
    "disqualified",
    "New",
    "Contacted ",
    "QUALIFIED",
    "",
    "",
];

const TAGS: &[&str] = &[
    "vip",
    "newsletter",
    "webinar",
    "trade-show",
    "partner",
    "cold",
    "warm",
    "enterprise",
];

/// US area codes the generated numbers use (all in libphonenumber's US metadata).
const US_AREAS: &[u32] = &[
    212, 213, 305, 312, 404, 415, 503, 512, 617, 646, 702, 713, 720, 757, 801, 858, 917, 919, 206,
    310,
];

/// SplitMix64: tiny, fast, and fully determined by the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone, Copy)]
enum Country {
    Us,
    Gb,
    De,
    Fr,
}

/// Distinct numbers per country: the `k`-th number of a country, scrambled by a bijection
/// (multiplying by a constant prime to the modulus) so neighbouring rows do not look alike.
fn phone(country: Country, k: u64, style: usize, out: &mut String) {
    match country {
        Country::Us => {
            let area = US_AREAS[(k % US_AREAS.len() as u64) as usize];
            let rest = (k / US_AREAS.len() as u64) * 7_919 % 8_000_000;
            let (exchange, line) = (200 + rest / 10_000, rest % 10_000);
            let _ = match style % 6 {
                0 => write!(out, "({area}) {exchange}-{line:04}"),
                1 => write!(out, "{area}-{exchange}-{line:04}"),
                2 => write!(out, "{area}.{exchange}.{line:04}"),
                3 => write!(out, "+1 {area} {exchange} {line:04}"),
                4 => write!(out, "+1{area}{exchange}{line:04}"),
                _ => write!(out, "1-{area}-{exchange}-{line:04}"),
            };
        }
        Country::Gb => {
            // Mobile 7400 000000 – 7409 999999.
            let n = k * 7_919 % 10_000_000;
            let (block, sub) = (n / 1_000_000, n % 1_000_000);
            let _ = match style % 4 {
                0 => write!(out, "+44 740{block} {sub:06}"),
                1 => write!(out, "0740{block} {sub:06}"),
                2 => write!(out, "+44740{block}{sub:06}"),
                _ => write!(out, "0044 740{block} {sub:06}"),
            };
        }
        Country::De => {
            // Mobile 151 00000000 – 151 99999999.
            let n = k * 7_919 % 100_000_000;
            let _ = match style % 3 {
                0 => write!(out, "+49 151 {n:08}"),
                1 => write!(out, "0151 {n:08}"),
                _ => write!(out, "0151/{n:08}"),
            };
        }
        Country::Fr => {
            // Mobile 61 0000000 – 61 9999999.
            let n = k * 7_919 % 10_000_000;
            let (a, b, c, d) = (n / 1_000_000, n / 10_000 % 100, n / 100 % 100, n % 100);
            let _ = match style % 3 {
                0 => write!(out, "+33 6 1{a} {b:02} {c:02} {d:02}"),
                1 => write!(out, "06 1{a} {b:02} {c:02} {d:02}"),
                _ => write!(out, "06.1{a}.{b:02}.{c:02}.{d:02}"),
            };
        }
    }
}

/// Appends `value` as a CSV field, quoted when it needs to be.
fn field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

#[derive(Debug)]
struct Args {
    rows: u64,
    invalid_ratio: f64,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        rows: 0,
        invalid_ratio: 0.0,
        seed: 1,
    };
    let mut rows = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--rows" => {
                rows = Some(
                    value("--rows")?
                        .parse()
                        .map_err(|e| format!("--rows: {e}"))?,
                )
            }
            "--invalid-ratio" => {
                args.invalid_ratio = value("--invalid-ratio")?
                    .parse()
                    .map_err(|e| format!("--invalid-ratio: {e}"))?;
                if !(0.0..=1.0).contains(&args.invalid_ratio) {
                    return Err("--invalid-ratio must be between 0 and 1".into());
                }
            }
            "--seed" => {
                args.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    args.rows = rows.ok_or("--rows N is required")?;
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!(
                "gen_leads: {message}\nusage: gen_leads --rows N [--invalid-ratio R] [--seed S]"
            );
            return ExitCode::from(2);
        }
    };
    match generate(
        &args,
        &mut BufWriter::with_capacity(1 << 20, io::stdout().lock()),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_leads: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(args: &Args, out: &mut impl Write) -> io::Result<()> {
    let mut rng = Rng(args.seed);
    let mut per_country = [0u64; 4];
    let mut line = String::with_capacity(256);
    let mut number = String::with_capacity(32);
    // The last valid row's phone and country cell, for duplicates.
    let mut last_phone = String::from("+1 212 555 0143");
    let mut last_country = "";
    out.write_all(b"lead_id,name,phone,email,status,tags,company,country,signup_date\n")?;
    for i in 0..args.rows {
        line.clear();
        number.clear();
        let country = match rng.below(100) {
            0..55 => Country::Us,
            55..70 => Country::Gb,
            70..85 => Country::De,
            _ => Country::Fr,
        };
        let slot = &mut per_country[country as usize];
        let style = rng.below(12);
        phone(country, *slot, style, &mut number);
        *slot += 1;
        // A national format needs the country column; an international one has it anyway
        // most of the time, and US numbers often leave it to the default region.
        let international = number.starts_with('+') || number.starts_with("00");
        let mut country_cell = match country {
            Country::Us if rng.below(2) == 0 => "",
            Country::Us => "US",
            Country::Gb => "GB",
            Country::De if international && rng.below(3) == 0 => "",
            Country::De => "DE",
            Country::Fr => "FR",
        };

        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let name = if rng.below(20) == 0 {
            format!("{last}, {first}")
        } else {
            format!("{first} {last}")
        };
        let mut email = format!(
            "{}.{}{}@{}",
            first.to_lowercase(),
            last.to_lowercase().replace([' ', '\''], ""),
            i,
            rng.pick(DOMAINS)
        );
        if rng.below(10) == 0 {
            email.clear();
        }
        let mut status = rng.pick(STATUSES).to_owned();
        let mut tags = String::new();
        for _ in 0..rng.below(4) {
            if !tags.is_empty() {
                tags.push(';');
            }
            tags.push_str(rng.pick(TAGS));
        }
        let company = rng.pick(COMPANIES);
        let date = format!("2024-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28));
        let mut extra_field = false;

        if rng.unit() < args.invalid_ratio {
            match rng.below(7) {
                0 => number.clear(),
                1 => {
                    number.clear();
                    number.push_str("12345");
                }
                2 => status = "qualifed".into(),
                3 => email = format!("{}@@example", first.to_lowercase()),
                4 => tags = "[\"unclosed".into(),
                5 => {
                    number.clear();
                    number.push_str(&last_phone);
                    country_cell = last_country;
                }
                _ => extra_field = true,
            }
        } else {
            last_phone.clear();
            last_phone.push_str(&number);
            last_country = country_cell;
        }

        let _ = write!(line, "crm-{i:08},");
        field(&mut line, &name);
        line.push(',');
        field(&mut line, &number);
        line.push(',');
        field(&mut line, &email);
        line.push(',');
        field(&mut line, &status);
        line.push(',');
        field(&mut line, &tags);
        line.push(',');
        field(&mut line, company);
        line.push(',');
        line.push_str(country_cell);
        line.push(',');
        line.push_str(&date);
        if extra_field {
            line.push_str(",surplus");
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}
