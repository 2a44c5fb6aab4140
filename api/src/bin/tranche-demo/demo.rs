//! The demo programme: generated from one seed and loaded through the same operations a real
//! one goes through.
//!
//! The programme is shaped like Caminando (UN Women and HIAS on the northern border of Ecuador,
//! funded by BPRM): one award in USD, two partners with their own Ed25519 keys, participants
//! from Ecuador, Venezuela and Colombia in four provinces, registered with personal data (the
//! journal gets pseudonyms and commitments), cohorts of about 25 per partner and province on
//! three pathways (vocational scholarships with training providers, entrepreneurship with
//! seed-capital milestones, employability), six months of sessions with realistic attendance
//! signed by the partners month by month, and the monthly cycles run on it, with a second C4T
//! rule version from April and one late attendance correction that reverses an entitlement.
//!
//! Everything comes from one seeded generator, so the journal's content is the same on every
//! run except the record times, the ledger's own key and the users' tokens.

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context as _};
use chrono::{Datelike as _, NaiveDate, Utc, Weekday};
use ed25519_dalek::SigningKey;
use sha2::{Digest as _, Sha256};
use tranche_audit::account::AccountName;
use tranche_audit::posting::{Posting, Side};
use tranche_audit::programme::{
    partner_key_id, public_key_text, AwardOpenBody, BudgetLine, CohortOpenBody, Date, EvidenceItem,
    Id, KeyAction, Milestone, Outcome, PartnerKeyBody, PartnerRegisterBody, Pathway, Period,
    Presence, RuleParams, RuleVersionBody, SessionBody, Statement, MAX_STATEMENT_ITEMS,
};
use tranche_ledger::cycle::CycleReport;
use tranche_ledger::domain::{Command, NewTransaction};
use tranche_ledger::operations::{award_commands, CohortInput, ParticipantInput, SeededRandom};
use tranche_ledger::programme::ProgrammeCommand;
use tranche_ledger::{Appended, Ledger};

use tranche_api::cli::common::{open, progress_bar};
use tranche_api::cli::Global;

use crate::DemoArgs;

/// The demo's award.
pub const AWARD: &str = "bprm-ec-2026";
/// The default seed of the generator.
pub const DEFAULT_SEED: u64 = 20_260_101;
/// Registration commands per append (two per participant).
const REGISTER_BATCH: usize = 2_000;
/// Evidence items' JSON bytes per statement at most, so every record stays well under 64 KiB.
const STATEMENT_BYTES: usize = 56_000;
/// Participants per cohort, about.
const COHORT_SIZE: usize = 25;
/// The months the demo runs, January to June 2026.
const MONTHS: std::ops::RangeInclusive<u32> = 1..=6;

// ---------------------------------------------------------------------------------------------
// The fixed parts of the programme.

struct PartnerSpec {
    id: &'static str,
    /// Prefix of its cohort and batch ids.
    short: &'static str,
    name: &'static str,
    /// Its API user, also the actor of what it records.
    user: &'static str,
}

const PARTNERS: [PartnerSpec; 2] = [
    PartnerSpec {
        id: "hias",
        short: "hias",
        name: "HIAS Ecuador",
        user: "hias-field",
    },
    PartnerSpec {
        id: "un-women-ec",
        short: "unw",
        name: "UN Women Ecuador",
        user: "un-women-field",
    },
];

/// The API users: (name, role, partner). Records are written under these names.
const USERS: [(&str, &str, Option<&str>); 8] = [
    ("admin", "admin", None),
    ("finance-preparer", "preparer", None),
    ("finance-approver-1", "approver", None),
    ("finance-approver-2", "approver", None),
    ("hias-field", "partner", Some("hias")),
    ("un-women-field", "partner", Some("un-women-ec")),
    ("auditor", "auditor", None),
    ("bprm-donor", "donor", None),
];
const ADMIN: &str = "user:admin";
const PREPARER: &str = "user:finance-preparer";

struct ProvinceSpec {
    name: &'static str,
    code: &'static str,
    town: &'static str,
    /// Share of the participants, percent.
    weight: u64,
    /// The first two digits of an Ecuadorian cédula issued there.
    cedula: u64,
}

const PROVINCES: [ProvinceSpec; 4] = [
    ProvinceSpec {
        name: "Sucumbíos",
        code: "suc",
        town: "Lago Agrio",
        weight: 30,
        cedula: 21,
    },
    ProvinceSpec {
        name: "Imbabura",
        code: "imb",
        town: "Ibarra",
        weight: 28,
        cedula: 10,
    },
    ProvinceSpec {
        name: "Carchi",
        code: "car",
        town: "Tulcán",
        weight: 20,
        cedula: 4,
    },
    ProvinceSpec {
        name: "Esmeraldas",
        code: "esm",
        town: "Esmeraldas",
        weight: 22,
        cedula: 8,
    },
];

struct CourseSpec {
    id: &'static str,
    name: &'static str,
    provider: &'static str,
    /// The certification exam, the course's last day: (month, day) in 2026.
    ends: (u32, u32),
}

const COURSES: [CourseSpec; 4] = [
    CourseSpec {
        id: "hairdressing",
        name: "hairdressing and beauty",
        provider: "academia-estilo-norte",
        ends: (6, 26),
    },
    CourseSpec {
        id: "baking",
        name: "baking and pastry",
        provider: "escuela-panaderia-andina",
        ends: (5, 29),
    },
    CourseSpec {
        id: "welding",
        name: "welding",
        provider: "secap",
        ends: (6, 19),
    },
    CourseSpec {
        id: "computing",
        name: "computing and digital skills",
        provider: "secap",
        ends: (5, 22),
    },
];

const PATHWAYS: [Pathway; 3] = [
    Pathway::VocationalScholarship,
    Pathway::Entrepreneurship,
    Pathway::Employability,
];

/// Public holidays in Ecuador in the demo's months: no sessions.
const HOLIDAYS: [(u32, u32); 5] = [(1, 1), (2, 16), (2, 17), (4, 3), (5, 1)];

/// When cohorts start (a Monday) and on which days they meet, by cohort number.
const STARTS: [(u32, u32); 5] = [(1, 5), (1, 12), (1, 5), (1, 19), (2, 2)];
const WEEKS: [&[Weekday]; 4] = [
    &[Weekday::Mon, Weekday::Wed, Weekday::Fri],
    &[Weekday::Mon, Weekday::Tue, Weekday::Thu, Weekday::Fri],
    &[Weekday::Tue, Weekday::Thu, Weekday::Sat],
    &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu],
];

const FEMALE: &str =
    "María Ana Carmen Yuliana Daniela Génesis Yusmary Andreína Mariángel Luisa Paola \
     Rosa Gabriela Karina Yelitza Fernanda Valentina Dayana Johana Lorena Milagros \
     Nathaly Patricia Sofía Estefanía Katherine Mayerli Yenny Leidy Diana Marisol \
     Alejandra Adriana Jessica Liliana Norma Verónica Yohana Wendy Maryuri";
const MALE: &str = "José Luis Carlos Jhon Andrés Miguel Jorge Wilmer Kevin Darwin Jesús Édgar";
const SURNAMES: &str =
    "González Rodríguez Pérez Hernández García Martínez López Sánchez Ramírez Torres \
     Quintero Rojas Mendoza Contreras Guerrero Vargas Castillo Moreno Cedeño Quiñónez \
     Cuero Pozo Chalá Ipiales Andrade Benítez Cuásquer Villalobos Parra Urdaneta \
     Montaño Caicedo Ortiz Salazar Jaramillo Arias";
const AGE_BANDS: [(&str, u64); 5] = [
    ("18-24", 20),
    ("25-34", 38),
    ("35-44", 27),
    ("45-59", 12),
    ("60+", 3),
];
const NATIONALITIES: [(&str, u64); 3] = [("Venezuela", 62), ("Ecuador", 25), ("Colombia", 13)];
const BANKS: [(&str, u64); 4] = [
    ("Banco Pichincha", 40),
    ("BanEcuador", 25),
    ("Cooperativa JEP", 15),
    ("Produbanco", 20),
];

// ---------------------------------------------------------------------------------------------
// The generator.

/// Small helpers over the ledger's seeded generator.
struct Rng(SeededRandom);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.0.next_u64() % n
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `permille`/1000.
    fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn weighted<'a, T>(&mut self, items: &'a [(T, u64)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.below(total);
        for (item, w) in items {
            if roll < *w {
                return item;
            }
            roll -= w;
        }
        &items[items.len() - 1].0
    }

    fn digits(&mut self, n: u32) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

fn date(month: u32, day: u32) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(2026, month, day).with_context(|| format!("2026-{month}-{day}"))
}

fn id(text: &str) -> anyhow::Result<Id> {
    Id::parse(text).map_err(|e| anyhow!("{e}"))
}

/// Whole cents as a canonical USD amount.
fn usd(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `amount` rounded up to a multiple of `step`.
fn ceil_to(amount: i64, step: i64) -> i64 {
    (amount + step - 1) / step * step
}

/// How a participant attends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// 87 to 100% of sessions.
    Regular,
    /// 68 to 82%.
    Irregular,
    /// 40 to 60%.
    Low,
    /// Regular until a day between February and May, then absent for the rest of that month
    /// and, for half of them, no longer on the attendance sheet at all.
    Dropout,
}

struct Cohort {
    body: CohortOpenBody,
    start: NaiveDate,
    sessions: Vec<(Id, NaiveDate)>,
    course: Option<&'static CourseSpec>,
    partner: usize,
}

struct Person {
    input: ParticipantInput,
    partner: usize,
    pathway: Pathway,
    /// None: registered but never enrolled.
    cohort: Option<usize>,
    enrolled: NaiveDate,
    /// Per session of the cohort: what the sheet says (None: no record).
    attendance: Vec<Option<Presence>>,
    certification: Option<(Outcome, NaiveDate)>,
    milestones: Vec<(Milestone, Outcome, NaiveDate)>,
}

/// The whole programme before anything is written.
struct World {
    award: AwardOpenBody,
    cohorts: Vec<Cohort>,
    people: Vec<Person>,
}

fn cedula(rng: &mut Rng, province: u64) -> String {
    // Province, then a third digit below 6 (a natural person), six digits, the check digit.
    let mut d: Vec<u32> = vec![(province / 10) as u32, (province % 10) as u32];
    d.push(rng.below(6) as u32);
    for _ in 0..6 {
        d.push(rng.below(10) as u32);
    }
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let v = if i % 2 == 0 { x * 2 } else { x };
            if v > 9 {
                v - 9
            } else {
                v
            }
        })
        .sum();
    d.push((10 - sum % 10) % 10);
    d.iter().map(|x| char::from(b'0' + *x as u8)).collect()
}

/// The name lists, split once.
struct Names {
    female: Vec<&'static str>,
    male: Vec<&'static str>,
    surnames: Vec<&'static str>,
}

fn person_input(
    rng: &mut Rng,
    names: &Names,
    province: &ProvinceSpec,
    pathway: Pathway,
) -> ParticipantInput {
    let sex = *rng.weighted(&[("female", 880), ("male", 80), ("", 40)]);
    let first = if sex == "male" {
        *rng.pick(&names.male)
    } else {
        *rng.pick(&names.female)
    };
    let name = format!(
        "{first} {} {}",
        rng.pick(&names.surnames),
        rng.pick(&names.surnames)
    );
    let nationality = *rng.weighted(&NATIONALITIES);
    let document = match nationality {
        "Ecuador" => cedula(rng, province.cedula),
        "Venezuela" => format!("V-{}{}", rng.range(10, 32), rng.digits(6)),
        _ => format!("CC 10{}", rng.digits(8)),
    };
    let phone = format!(
        "+593 9{} {} {}",
        rng.range(5, 9),
        rng.digits(3),
        rng.digits(4)
    );
    let bank_account = rng.chance(820).then(|| {
        let bank = rng.weighted(&BANKS);
        format!("{bank} {}", rng.digits(10))
    });
    let age_band = *rng.weighted(&AGE_BANDS);
    ParticipantInput {
        award: AWARD.into(),
        partner: None,
        name,
        document,
        phone: Some(phone),
        bank_account,
        sex: (!sex.is_empty()).then(|| sex.to_string()),
        nationality: Some(nationality.into()),
        province: Some(province.name.into()),
        pathway: Some(pathway.as_str().into()),
        age_band: Some(age_band.into()),
    }
}

fn schedule(
    cohort: &Id,
    start: NaiveDate,
    end: NaiveDate,
    days: &[Weekday],
) -> anyhow::Result<Vec<(Id, NaiveDate)>> {
    let holidays: Vec<NaiveDate> = HOLIDAYS
        .iter()
        .map(|&(m, d)| date(m, d))
        .collect::<anyhow::Result<_>>()?;
    let mut out = Vec::new();
    for day in start.iter_days().take_while(|d| *d <= end) {
        if days.contains(&day.weekday()) && !holidays.contains(&day) {
            out.push((id(&format!("{cohort}-{:03}", out.len() + 1))?, day));
        }
    }
    Ok(out)
}

/// A weekday between two dates (inclusive), not a holiday.
fn visit_day(rng: &mut Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let days: Vec<NaiveDate> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .filter(|d| !HOLIDAYS.contains(&(d.month(), d.day())))
        .collect();
    if days.is_empty() {
        from
    } else {
        *rng.pick(&days)
    }
}

/// Generates the programme: deterministic in `n` and `seed`.
fn world(n: usize, seed: u64) -> anyhow::Result<World> {
    let mut rng = Rng(SeededRandom(seed));
    let names = Names {
        female: FEMALE.split_whitespace().collect(),
        male: MALE.split_whitespace().collect(),
        surnames: SURNAMES.split_whitespace().collect(),
    };
    let n_scholarship = n * 2 / 5;
    let n_seed = n / 3;
    let province_weights: Vec<(usize, u64)> = PROVINCES
        .iter()
        .enumerate()
        .map(|(i, p)| (i, p.weight))
        .collect();

    // People, with their pathway, partner and province; unique document numbers.
    let mut documents = HashSet::new();
    let mut people = Vec::with_capacity(n);
    let mut places = Vec::with_capacity(n);
    for i in 0..n {
        let pathway = if i < n_scholarship {
            Pathway::VocationalScholarship
        } else if i < n_scholarship + n_seed {
            Pathway::Entrepreneurship
        } else {
            Pathway::Employability
        };
        let partner = rng.below(PARTNERS.len() as u64) as usize;
        let province = *rng.weighted(&province_weights);
        let input = loop {
            let input = person_input(&mut rng, &names, &PROVINCES[province], pathway);
            let doc = tranche_ledger::operations::normalise_document(&input.document);
            if documents.insert(doc) {
                break input;
            }
        };
        places.push((pathway, partner, province));
        people.push(Person {
            input,
            partner,
            pathway,
            cohort: None,
            enrolled: date(1, 2)?,
            attendance: Vec::new(),
            certification: None,
            milestones: Vec::new(),
        });
    }

    // Cohorts of about 25 per pathway, partner and province.
    let mut groups: BTreeMap<(usize, usize, usize), Vec<usize>> = BTreeMap::new();
    for (i, (pathway, partner, province)) in places.iter().enumerate() {
        let p = PATHWAYS.iter().position(|x| x == pathway).unwrap_or(0);
        groups.entry((p, *partner, *province)).or_default().push(i);
    }
    let mut cohorts: Vec<Cohort> = Vec::new();
    let mut scholarship_cohorts = 0usize;
    for ((p, partner, province), members) in &groups {
        let pathway = PATHWAYS[*p];
        let spec = &PARTNERS[*partner];
        let prov = &PROVINCES[*province];
        let k = ((members.len() + COHORT_SIZE / 2) / COHORT_SIZE).max(1);
        for j in 0..k {
            let number = cohorts.len();
            let code = match pathway {
                Pathway::VocationalScholarship => "sch",
                Pathway::Entrepreneurship => "ent",
                Pathway::Employability => "emp",
            };
            let cohort_id = id(&format!("{}-{}-{code}{}", spec.short, prov.code, j + 1))?;
            let (m, d) = STARTS[number % STARTS.len()];
            let start = date(m, d)?;
            let (course, end, name) = match pathway {
                Pathway::VocationalScholarship => {
                    let c = &COURSES[scholarship_cohorts % COURSES.len()];
                    scholarship_cohorts += 1;
                    let name = format!(
                        "Vocational scholarship in {}, {}, {} (cohort {})",
                        c.name,
                        prov.town,
                        spec.name,
                        j + 1
                    );
                    (Some(c), date(c.ends.0, c.ends.1)?, name)
                }
                Pathway::Entrepreneurship => (
                    None,
                    date(6, 30)?,
                    format!(
                        "Entrepreneurship (My Business), {}, {} (cohort {})",
                        prov.town,
                        spec.name,
                        j + 1
                    ),
                ),
                Pathway::Employability => (
                    None,
                    date(6, 30)?,
                    format!(
                        "Employability and labour rights, {}, {} (cohort {})",
                        prov.town,
                        spec.name,
                        j + 1
                    ),
                ),
            };
            let days = WEEKS[(number / STARTS.len() + number) % WEEKS.len()];
            let mut sessions = schedule(&cohort_id, start, end, days)?;
            if let Some(c) = course {
                // The exam day is the course's last session.
                let exam = date(c.ends.0, c.ends.1)?;
                if sessions.last().map(|s| s.1) != Some(exam) {
                    sessions.push((id(&format!("{cohort_id}-{:03}", sessions.len() + 1))?, exam));
                }
            }
            let body = CohortOpenBody {
                cohort: cohort_id,
                award: id(AWARD)?,
                partner: id(spec.id)?,
                pathway,
                name,
                course: course.map(|c| id(c.id)).transpose()?,
                provider: course.map(|c| id(c.provider)).transpose()?,
            };
            let from = j * members.len() / k;
            let to = (j + 1) * members.len() / k;
            for &m in &members[from..to] {
                people[m].cohort = Some(number);
            }
            cohorts.push(Cohort {
                body,
                start,
                sessions,
                course,
                partner: *partner,
            });
        }
    }

    // Attendance, certifications and seed-capital visits.
    let (feb, june) = (date(2, 1)?, date(5, 31)?);
    let season = (june - feb).num_days() as u64;
    for person in &mut people {
        let Some(c) = person.cohort else { continue };
        let cohort = &cohorts[c];
        if person.pathway == Pathway::Employability && rng.chance(15) {
            // Registered, then never came: listed as not enrolled every month.
            person.cohort = None;
            continue;
        }
        let start = cohort.start;
        person.enrolled = (start - chrono::Duration::days(rng.range(1, 5) as i64)).max(date(1, 2)?);
        let profile = match rng.below(100) {
            0..=71 => Profile::Regular,
            72..=89 => Profile::Irregular,
            90..=93 => Profile::Low,
            _ => Profile::Dropout,
        };
        let rate = match profile {
            Profile::Regular | Profile::Dropout => rng.range(870, 1000),
            Profile::Irregular => rng.range(680, 820),
            Profile::Low => rng.range(400, 600),
        };
        let dropout = (profile == Profile::Dropout)
            .then(|| feb + chrono::Duration::days(rng.below(season + 1) as i64));
        let still_listed = rng.chance(500);
        person.attendance = cohort
            .sessions
            .iter()
            .map(|(_, day)| match dropout {
                Some(d) if *day >= d => {
                    (still_listed || day.month() == d.month()).then_some(Presence::Absent)
                }
                _ if rng.chance(3) => None,
                _ if rng.chance(rate) => Some(Presence::Present),
                _ => Some(Presence::Absent),
            })
            .collect();
        let gone_by = |day: NaiveDate| dropout.is_some_and(|d| d <= day);
        let pass = match profile {
            Profile::Regular | Profile::Dropout => 930,
            Profile::Irregular => 800,
            Profile::Low => 450,
        };
        if let Some(course) = cohort.course {
            let exam = date(course.ends.0, course.ends.1)?;
            if !gone_by(exam) {
                let result = if rng.chance(pass) {
                    Outcome::Passed
                } else {
                    Outcome::Failed
                };
                person.certification = Some((result, exam));
            }
        }
        if person.pathway == Pathway::Entrepreneurship {
            let visits = [
                (
                    Milestone::PlanApproved,
                    date(3, 2)?,
                    date(3, 27)?,
                    pass + 20,
                ),
                (Milestone::Tranche1, date(4, 6)?, date(4, 24)?, 950),
                (Milestone::Tranche2, date(6, 1)?, date(6, 19)?, 920),
            ];
            for (milestone, from, to, chance) in visits {
                let day = visit_day(&mut rng, from, to);
                if gone_by(day) {
                    break;
                }
                let passed = rng.chance(chance.min(990));
                let result = if passed {
                    Outcome::Passed
                } else {
                    Outcome::Failed
                };
                person.milestones.push((milestone, result, day));
                if !passed {
                    break;
                }
            }
        }
    }

    let award = budget(n, n_scholarship, n_seed, &people)?;
    Ok(World {
        award,
        cohorts,
        people,
    })
}

/// The award and its budget, sized for `n` participants: the participant-support lines have
/// room for everything the demo pays, except the certification incentive, which is a few
/// incentives short so that June's cycle lists them as budget_exhausted.
fn budget(
    n: usize,
    n_scholarship: usize,
    n_seed: usize,
    people: &[Person],
) -> anyhow::Result<AwardOpenBody> {
    let n = n as i64;
    let passes = people
        .iter()
        .filter(|p| matches!(p.certification, Some((Outcome::Passed, _))))
        .count() as i64;
    // Amounts in whole dollars from here on.
    let short = 3 + passes / 200;
    let target = (passes - short).max(1) * 100;
    let step = if target >= 10_000 { 500 } else { 100 };
    let incentive = (target / step * step).max(100);
    let mut lines: Vec<(&str, &str, i64, bool)> = vec![
        ("c4t", "Cash for training (C4T) stipends", n * 400, true),
        (
            "scholarship-tuition",
            "Vocational scholarships: tuition to training providers",
            ceil_to(n_scholarship as i64 * 370, 1_000),
            true,
        ),
        (
            "scholarship-incentive",
            "Vocational scholarships: certification incentive",
            incentive,
            true,
        ),
        (
            "seed-capital",
            "Seed capital for business plans",
            ceil_to(n_seed as i64 * 840, 1_000),
            true,
        ),
        ("personnel", "Personnel and fringe benefits", n * 180, false),
        (
            "travel",
            "Travel and field monitoring visits",
            n * 24,
            false,
        ),
        (
            "monitoring-evaluation",
            "Monitoring, evaluation and baseline studies",
            n * 30,
            false,
        ),
    ];
    let subtotal: i64 = lines.iter().map(|l| l.2).sum();
    let total = ceil_to(subtotal + n * 8, 10_000);
    lines.push((
        "other-direct",
        "Other direct costs (supplies, communications)",
        total - subtotal,
        false,
    ));
    Ok(AwardOpenBody {
        // Ecuador: UTC-5 all year.
        utc_offset: Some("-05:00".into()),
        award: id(AWARD)?,
        donor: "BPRM (U.S. Department of State, Bureau of Population, Refugees, and Migration)"
            .into(),
        currency: "USD".into(),
        total: usd(total * 100),
        start: Date(date(1, 1)?),
        end: Date(date(12, 31)?),
        budget_lines: lines
            .into_iter()
            .map(|(line, name, dollars, ps)| {
                Ok(BudgetLine {
                    line: id(line)?,
                    name: name.into(),
                    authorised: usd(dollars * 100),
                    participant_support: ps,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    })
}

fn rule(
    rule: &str,
    version: u64,
    effective: NaiveDate,
    params: RuleParams,
) -> anyhow::Result<Command> {
    Ok(Command::Programme(ProgrammeCommand::RuleVersion(
        RuleVersionBody {
            award: id(AWARD)?,
            rule: id(rule)?,
            version,
            effective: Date(effective),
            params,
        },
    )))
}

fn c4t(amount: &str, cap: &str) -> anyhow::Result<RuleParams> {
    Ok(RuleParams::C4tMonthly {
        line: id("c4t")?,
        amount: amount.into(),
        full_from_percent: 80,
        partial_from_percent: 60,
        cap: cap.into(),
    })
}

/// A partner's demo signing key: fixed, so the journal is the same on every run.
fn partner_key(partner: &str) -> SigningKey {
    let seed: [u8; 32] =
        Sha256::digest(format!("tranche/demo/partner-key/v1\n{partner}").as_bytes()).into();
    SigningKey::from_bytes(&seed)
}

/// Splits items into statements of at most `MAX_STATEMENT_ITEMS` items and `STATEMENT_BYTES`
/// bytes, signs them, and names them `<prefix>-1`, `<prefix>-2`, …
fn statements(
    partner: usize,
    key: &SigningKey,
    prefix: &str,
    items: Vec<EvidenceItem>,
    submitted_at: &str,
) -> anyhow::Result<Vec<Command>> {
    let mut chunks: Vec<Vec<EvidenceItem>> = Vec::new();
    let mut bytes = 0usize;
    for item in items {
        let len = serde_json::to_vec(&item)?.len() + 1;
        match chunks.last_mut() {
            Some(c) if c.len() < MAX_STATEMENT_ITEMS && bytes + len <= STATEMENT_BYTES => {
                bytes += len;
                c.push(item);
            }
            _ => {
                bytes = len;
                chunks.push(vec![item]);
            }
        }
    }
    let mut out = Vec::with_capacity(chunks.len());
    for (i, items) in chunks.into_iter().enumerate() {
        let body = Statement {
            partner: id(PARTNERS[partner].id)?,
            batch_id: id(&format!("{prefix}-{}", i + 1))?,
            items,
            submitted_at: submitted_at.into(),
        }
        .sign(key);
        out.push(Command::Programme(ProgrammeCommand::Evidence(Box::new(
            body,
        ))));
    }
    Ok(out)
}

/// The first weekday of the month after `month`, at 17:00 UTC: when a month's sheets arrive.
fn submitted_after(month: u32) -> anyhow::Result<String> {
    let mut day = Period::of(date(month, 1)?).next().first;
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day.succ_opt().context("a next day")?;
    }
    Ok(format!("{}T17:00:00Z", day.format("%Y-%m-%d")))
}

// ---------------------------------------------------------------------------------------------
// Loading.

async fn append(
    ledger: &Ledger,
    commands: &[Command],
    actor: &str,
    what: &str,
) -> anyhow::Result<Appended> {
    ledger
        .append(commands, actor, Utc::now())
        .await
        .with_context(|| format!("The demo's {what} was refused"))
}

/// What the cycles did, for the summary.
#[derive(Default)]
struct Tally {
    entitlements: u64,
    reversals: u64,
    /// The latest report of each period.
    latest: BTreeMap<String, CycleReport>,
    runs: u64,
}

pub async fn run(g: &Global, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let began = Instant::now();
    let ledger = open(g).await?;
    let award_id = id(AWARD)?;
    let (partners_known, keys_known) = {
        let st = ledger.store().programme().await?;
        if st.awards.contains_key(&award_id) {
            eprintln!(
                "refused: award {AWARD} is already open in this ledger; the demo loads only into \
                 a ledger without it (use another --data-dir or DATABASE_URL) (award_exists)"
            );
            eprintln!("nothing was written");
            return Ok(ExitCode::from(3));
        }
        let partners: Vec<bool> = PARTNERS
            .iter()
            .map(|p| Id::parse(p.id).is_ok_and(|i| st.partners.contains_key(&i)))
            .collect();
        let keys: Vec<bool> = PARTNERS
            .iter()
            .map(|p| {
                st.keys
                    .contains_key(&partner_key_id(&partner_key(p.id).verifying_key()))
            })
            .collect();
        (partners, keys)
    };

    let n = args.participants as usize;
    let w = world(n, args.seed)?;
    let keys: Vec<SigningKey> = PARTNERS.iter().map(|p| partner_key(p.id)).collect();
    let register_batches: usize = (0..PARTNERS.len())
        .map(|pi| {
            let count = w.people.iter().filter(|p| p.partner == pi).count();
            (count * 2).div_ceil(REGISTER_BATCH)
        })
        .sum();
    // Setup (2), registration, each month's evidence per partner and its cycle, rule version
    // 2, the correction with February's second run.
    let steps = 2 + register_batches + MONTHS.count() * (PARTNERS.len() + 1) + 2;
    let bar = progress_bar(steps as u64, "loading the demo");
    let say = |line: String| bar.suspend(|| println!("{line}"));

    // The award, the partners and their keys (the administrator).
    let mut commands = award_commands(w.award.clone()).map_err(|e| anyhow!("{e}"))?;
    for (i, p) in PARTNERS.iter().enumerate() {
        if !partners_known[i] {
            commands.push(Command::Programme(ProgrammeCommand::PartnerRegister(
                PartnerRegisterBody {
                    partner: id(p.id)?,
                    name: p.name.into(),
                },
            )));
        }
        if !keys_known[i] {
            let vk = keys[i].verifying_key();
            commands.push(Command::Programme(ProgrammeCommand::PartnerKey(
                PartnerKeyBody {
                    partner: id(p.id)?,
                    action: KeyAction::Register,
                    key_id: partner_key_id(&vk),
                    public_key: Some(public_key_text(&vk)),
                    replaces: None,
                },
            )));
        }
    }
    append(&ledger, &commands, ADMIN, "award and partners").await?;
    bar.inc(1);

    // Cohorts with their sessions, and the first rule versions (the finance preparer).
    let mut commands = Vec::new();
    let mut opened = HashSet::new();
    for c in &w.cohorts {
        let input = CohortInput {
            cohort: c.body.clone(),
            sessions: c
                .sessions
                .iter()
                .map(|(s, d)| SessionBody {
                    session: s.clone(),
                    date: Date(*d),
                })
                .collect(),
        };
        let made = ledger
            .cohort_commands(input)
            .await
            .with_context(|| format!("The demo's cohort {} was refused", c.body.cohort))?;
        // A provider's payable account is opened once, with its first cohort.
        commands.extend(made.into_iter().filter(|cmd| match cmd {
            Command::OpenAccount { name, .. } => opened.insert(name.as_str().to_string()),
            _ => true,
        }));
    }
    commands.push(rule("c4t", 1, date(1, 1)?, c4t("60.00", "360.00")?)?);
    commands.push(rule(
        "scholarship",
        1,
        date(1, 1)?,
        RuleParams::Scholarship {
            tuition_line: id("scholarship-tuition")?,
            tuition: "350.00".into(),
            incentive_line: id("scholarship-incentive")?,
            incentive: "100.00".into(),
        },
    )?);
    commands.push(rule(
        "seed-capital",
        1,
        date(1, 1)?,
        RuleParams::SeedCapital {
            line: id("seed-capital")?,
            obligation: "800.00".into(),
            tranche_1: "480.00".into(),
            tranche_2: "320.00".into(),
        },
    )?);
    append(&ledger, &commands, PREPARER, "cohorts and rules").await?;
    bar.inc(1);

    // Participants, registered by their partner with personal data; deterministic pseudonyms.
    let mut pseudonyms = SeededRandom(args.seed ^ 0x7472_616e_6368_6521);
    let mut ids: Vec<Option<Id>> = vec![None; w.people.len()];
    for (pi, p) in PARTNERS.iter().enumerate() {
        let mine: Vec<usize> = (0..w.people.len())
            .filter(|&i| w.people[i].partner == pi)
            .collect();
        let inputs: Vec<ParticipantInput> =
            mine.iter().map(|&i| w.people[i].input.clone()).collect();
        let (commands, made) = ledger
            .participant_commands(&inputs, Some(&id(p.id)?), &mut pseudonyms)
            .map_err(|e| anyhow!("The demo's participants were refused: {e}"))?;
        for chunk in commands.chunks(REGISTER_BATCH) {
            append(&ledger, chunk, &format!("user:{}", p.user), "registration").await?;
            bar.inc(1);
        }
        for (&i, pid) in mine.iter().zip(made) {
            ids[i] = Some(pid);
        }
    }
    let pid = |i: usize| ids[i].clone().context("a registered participant");

    // The late correction: a participant of the first partner paid pro rata for February
    // whose sheet had one absence too many.
    let correction = find_correction(&w)?;

    // Month by month: the partners' signed sheets, then the cycle.
    let mut tally = Tally::default();
    let mut statements_sent = 0u64;
    let mut items_sent = 0u64;
    for month in MONTHS {
        let period = Period::of(date(month, 1)?);
        let submitted = submitted_after(month)?;
        for (pi, p) in PARTNERS.iter().enumerate() {
            let mut commands = Vec::new();
            let prefix = format!("{}-{period}", p.short);
            let mine = |i: &usize| w.people[*i].partner == pi;
            if month == 1 {
                let mut items = Vec::new();
                for (i, person) in w.people.iter().enumerate().filter(|(i, _)| mine(i)) {
                    if let Some(c) = person.cohort {
                        items.push(EvidenceItem::Enrolment {
                            participant: pid(i)?,
                            cohort: w.cohorts[c].body.cohort.clone(),
                            date: Date(person.enrolled),
                        });
                    }
                }
                items_sent += items.len() as u64;
                commands.extend(statements(
                    pi,
                    &keys[pi],
                    &format!("{prefix}-enrolment"),
                    items,
                    &submitted,
                )?);
            }
            // One attendance sheet per cohort and session, people in registration order.
            let mut items = Vec::new();
            for (c, cohort) in w.cohorts.iter().enumerate() {
                if cohort.partner != pi {
                    continue;
                }
                let members: Vec<usize> = (0..w.people.len())
                    .filter(|&i| w.people[i].cohort == Some(c))
                    .collect();
                for (k, (session, day)) in cohort.sessions.iter().enumerate() {
                    if !period.contains(*day) {
                        continue;
                    }
                    for &i in &members {
                        if let Some(status) = w.people[i].attendance.get(k).copied().flatten() {
                            items.push(EvidenceItem::Attendance {
                                participant: pid(i)?,
                                session: session.clone(),
                                status,
                            });
                        }
                    }
                }
            }
            items_sent += items.len() as u64;
            commands.extend(statements(
                pi,
                &keys[pi],
                &format!("{prefix}-attendance"),
                items,
                &submitted,
            )?);
            let mut exams = Vec::new();
            let mut visits = Vec::new();
            for (i, person) in w.people.iter().enumerate().filter(|(i, _)| mine(i)) {
                if let (Some((result, day)), Some(c)) = (person.certification, person.cohort) {
                    if period.contains(day) {
                        if let Some(course) = &w.cohorts[c].body.course {
                            exams.push(EvidenceItem::Certification {
                                participant: pid(i)?,
                                course: course.clone(),
                                result,
                                date: Date(day),
                            });
                        }
                    }
                }
                for (milestone, result, day) in &person.milestones {
                    if period.contains(*day) {
                        visits.push(EvidenceItem::Milestone {
                            participant: pid(i)?,
                            milestone: *milestone,
                            result: *result,
                            date: Date(*day),
                        });
                    }
                }
            }
            for (what, items) in [("certification", exams), ("visits", visits)] {
                if !items.is_empty() {
                    items_sent += items.len() as u64;
                    commands.extend(statements(
                        pi,
                        &keys[pi],
                        &format!("{prefix}-{what}"),
                        items,
                        &submitted,
                    )?);
                }
            }
            statements_sent += commands.len() as u64;
            append(
                &ledger,
                &commands,
                &format!("user:{}", p.user),
                &format!("evidence of {period}"),
            )
            .await?;
            bar.inc(1);
        }
        run_cycle(&ledger, period, &mut tally, &say).await?;
        bar.inc(1);

        if month == 3 {
            // From April the stipend rises to 65.00 (and the cap with it): a new version,
            // never changing the months already run.
            append(
                &ledger,
                &[rule("c4t", 2, date(4, 1)?, c4t("65.00", "375.00")?)?],
                PREPARER,
                "C4T rule version 2",
            )
            .await?;
            say("rule c4t version 2: 65.00 a month from 2026-04-01 (cap 375.00)".into());
            bar.inc(1);
        }
        if month == 4 {
            if let Some((i, session, day)) = &correction {
                let p = w.people[*i].partner;
                let participant = pid(*i)?;
                let items = vec![EvidenceItem::AttendanceCorrection {
                    participant: participant.clone(),
                    session: session.clone(),
                    status: Presence::Present,
                }];
                let commands = statements(
                    p,
                    &keys[p],
                    &format!("{}-2026-02-correction", PARTNERS[p].short),
                    items,
                    "2026-05-04T15:00:00Z",
                )?;
                statements_sent += commands.len() as u64;
                items_sent += 1;
                append(
                    &ledger,
                    &commands,
                    &format!("user:{}", PARTNERS[p].user),
                    "late correction",
                )
                .await?;
                say(format!(
                    "late correction: {} signed that {participant} was present at session \
                     {session} on {day} after all; February is run again",
                    PARTNERS[p].name
                ));
                run_cycle(&ledger, Period::of(date(2, 1)?), &mut tally, &say).await?;
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    disburse(&ledger, &say).await?;

    let keys_dir = write_partner_keys(g, &keys);
    summary(
        &ledger,
        &w,
        &tally,
        statements_sent,
        items_sent,
        correction.as_ref().map(|c| pid(c.0)).transpose()?,
    )
    .await?;
    let loaded = began.elapsed();
    users(&ledger, g, keys_dir.as_deref()).await?;
    println!();
    println!("loaded in {:.1} s", loaded.as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// A participant of the first partner, with every February session recorded and paid pro
/// rata (60 to 79%), and one of their absent sessions: (person, session, date).
fn find_correction(w: &World) -> anyhow::Result<Option<(usize, Id, NaiveDate)>> {
    let feb = Period::of(date(2, 1)?);
    for (i, person) in w.people.iter().enumerate() {
        let Some(c) = person.cohort else { continue };
        if person.partner != 0 {
            continue;
        }
        let cohort = &w.cohorts[c];
        let month: Vec<(usize, &(Id, NaiveDate))> = cohort
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, (_, d))| feb.contains(*d) && *d >= person.enrolled)
            .collect();
        let marks: Vec<Option<Presence>> = month
            .iter()
            .map(|(k, _)| person.attendance.get(*k).copied().flatten())
            .collect();
        if month.is_empty() || marks.iter().any(Option::is_none) {
            continue;
        }
        let present = marks
            .iter()
            .filter(|m| **m == Some(Presence::Present))
            .count();
        let pct = present * 100 / month.len();
        if !(60..80).contains(&pct) {
            continue;
        }
        if let Some(((_, (session, day)), _)) = month
            .iter()
            .zip(&marks)
            .find(|(_, m)| **m == Some(Presence::Absent))
        {
            return Ok(Some((i, session.clone(), *day)));
        }
    }
    Ok(None)
}

async fn run_cycle(
    ledger: &Ledger,
    period: Period,
    tally: &mut Tally,
    say: &impl Fn(String),
) -> anyhow::Result<()> {
    let award = id(AWARD)?;
    let again = tally.latest.contains_key(&period.to_string());
    let report = ledger
        .run_cycle(&award, period, PREPARER, Utc::now(), &mut |_, _| {})
        .await
        .with_context(|| format!("The demo's cycle {period} failed"))?;
    tally.runs += 1;
    tally.entitlements += report.entitlements;
    tally.reversals += report.reversals;
    say(format!(
        "cycle {period}{}: {} new entitlements, {} reversals, net payable {} {}, {} exceptions",
        if again { " (run again)" } else { "" },
        report.entitlements,
        report.reversals,
        report.net_payable,
        report.currency,
        report.exceptions.len()
    ));
    tally.latest.insert(period.to_string(), report);
    Ok(())
}

/// Writes the partners' demo keys next to the ledger (never overwriting), so that new evidence
/// can be signed with `tranche partner sign`. Returns the directory when it could.
fn write_partner_keys(g: &Global, keys: &[SigningKey]) -> Option<std::path::PathBuf> {
    let dir = g.data_dir.join("demo-partner-keys");
    std::fs::create_dir_all(&dir).ok()?;
    for (p, key) in PARTNERS.iter().zip(keys) {
        let path = dir.join(format!("{}.key", p.id));
        if path.exists() {
            continue;
        }
        let k = tranche_api::partner::PartnerKey {
            partner: Id::parse(p.id).ok()?,
            signing: key.clone(),
        };
        k.create_file(&path).ok()?;
    }
    Some(dir)
}

async fn summary(
    ledger: &Ledger,
    w: &World,
    tally: &Tally,
    statements: u64,
    items: u64,
    corrected: Option<Id>,
) -> anyhow::Result<()> {
    let award = id(AWARD)?;
    let used = ledger.budget_used(&award).await?;
    let records = ledger.store().tree_size().await?;
    let checkpoint = ledger.store().latest_checkpoint().await?;
    let count = |p: Pathway| w.people.iter().filter(|x| x.pathway == p).count();
    let sessions: usize = w.cohorts.iter().map(|c| c.sessions.len()).sum();
    let nationality = |n: &str| {
        w.people
            .iter()
            .filter(|p| p.input.nationality.as_deref() == Some(n))
            .count()
    };
    let a = &w.award;
    println!();
    println!(
        "award {}  {}  {} {}  {} to {}",
        a.award, a.donor, a.total, a.currency, a.start, a.end
    );
    println!(
        "  partners      {}",
        PARTNERS
            .iter()
            .map(|p| format!("{} ({})", p.id, p.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  participants  {} ({} vocational scholarship, {} entrepreneurship, {} employability; \
         {} from Venezuela, {} Ecuador, {} Colombia)",
        w.people.len(),
        count(Pathway::VocationalScholarship),
        count(Pathway::Entrepreneurship),
        count(Pathway::Employability),
        nationality("Venezuela"),
        nationality("Ecuador"),
        nationality("Colombia"),
    );
    let sex = |x: Option<&str>| {
        w.people
            .iter()
            .filter(|p| p.input.sex.as_deref() == x)
            .count()
    };
    println!(
        "                {} women, {} men, {} not stated",
        sex(Some("female")),
        sex(Some("male")),
        sex(None)
    );
    println!(
        "  cohorts       {} in {} with {} sessions, January to June 2026",
        w.cohorts.len(),
        PROVINCES
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", "),
        sessions
    );
    println!("  evidence      {statements} signed statements, {items} items");
    println!(
        "  cycles        {} runs ({}), {} entitlements posted, {} reversed",
        tally.runs,
        tally.latest.keys().cloned().collect::<Vec<_>>().join(", "),
        tally.entitlements,
        tally.reversals
    );
    println!();
    println!(
        "  {:<24} {:>14} {:>14} {:>14} {:>7}",
        "budget line", "authorised", "used", "remaining", "used %"
    );
    for l in &a.budget_lines {
        let auth = usd_minor(&l.authorised);
        let u = used.get(&l.line).copied().unwrap_or(0);
        let pct = if auth > 0 {
            u as f64 * 100.0 / auth as f64
        } else {
            0.0
        };
        println!(
            "  {:<24} {:>14} {:>14} {:>14} {:>6.1}%",
            l.line.as_str(),
            l.authorised,
            usd(u),
            usd(auth - u),
            pct
        );
    }
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for r in tally.latest.values() {
        for (reason, n) in &r.exception_counts {
            *reasons.entry(*reason).or_default() += n;
        }
    }
    println!();
    println!("  exceptions (latest run of each month)");
    for (reason, n) in &reasons {
        println!("    {reason:<24} {n:>6}");
    }
    if let Some(p) = corrected {
        println!();
        println!("  the corrected participant: tranche participants show {p}");
    }
    println!();
    println!("records: {records}");
    if let Some(cp) = checkpoint {
        println!("checkpoint:");
        for line in cp.note.lines() {
            println!("  {line}");
        }
    }
    Ok(())
}

/// The money side: a donor drawdown covering what was earned, the award's paying account and
/// its training providers' accounts, and one batch (the first province's payees) prepared,
/// submitted and approved by the finance users, ready for its bank file.
async fn disburse(ledger: &Ledger, say: &dyn Fn(String)) -> anyhow::Result<()> {
    use tranche_audit::disburse::{BankAccountBody, DisbursementConfigBody, VendorAccountBody};
    let award = id(AWARD)?;
    let used: i64 = ledger.budget_used(&award).await?.values().sum();
    let drawdown = (used / 1_000_000 + 1) * 1_000_000;
    let usd = tranche_audit::money::Currency::parse("USD").map_err(|e| anyhow::anyhow!("{e}"))?;
    let posting = |account: String, side, minor| -> anyhow::Result<Posting> {
        Ok(Posting {
            account: AccountName::parse(&account).map_err(|e| anyhow::anyhow!("{e}"))?,
            side,
            money: tranche_audit::money::Money::from_minor(minor, usd),
        })
    };
    let vendors: Vec<VendorAccountBody> = {
        let st = ledger.store().programme().await?;
        let known = st
            .awards
            .get(&award)
            .map(|a| a.vendors.iter().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        known
            .into_iter()
            .enumerate()
            .map(|(i, v)| VendorAccountBody {
                account: BankAccountBody {
                    name: format!("{v} (training provider)"),
                    account: format!("{:010}", 3_300_112_200u64 + i as u64),
                    agent_bic: None,
                },
                vendor: v,
            })
            .collect()
    };
    let settings = DisbursementConfigBody {
        award: award.clone(),
        debtor: BankAccountBody {
            name: "HIAS Ecuador - Caminando programme account".into(),
            account: "2100456789".into(),
            agent_bic: Some("PICHECEQXXX".into()),
        },
        vendors,
        dual_approval_above: "25000.00".into(),
    };
    append(
        ledger,
        &[
            Command::Transaction(NewTransaction {
                memo: "BPRM drawdown, first half of 2026".into(),
                postings: vec![
                    posting(format!("bank:{AWARD}"), Side::Debit, drawdown)?,
                    posting(format!("fund:{AWARD}"), Side::Credit, drawdown)?,
                ],
                reverses: None,
            }),
            Ledger::settings_command(settings)?,
        ],
        ADMIN,
        "drawdown and payment settings",
    )
    .await?;
    let province = PROVINCES[0].name.to_string();
    let plan = match ledger
        .plan_batch(&tranche_ledger::payments::BatchRequest {
            award: AWARD.into(),
            filter: tranche_audit::disburse::BatchFilter {
                province: Some(province.clone()),
                ..Default::default()
            },
        })
        .await
    {
        Ok(plan) => plan,
        // A tiny demo may owe nothing in that province.
        Err(tranche_ledger::StoreError::Invalid(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    append(ledger, &plan.commands, PREPARER, "payment batch").await?;
    let submit = ledger.submit_command(&plan.batch).await?;
    append(ledger, &[submit], PREPARER, "batch submission").await?;
    for approver in ["user:finance-approver-1", "user:finance-approver-2"] {
        let view = ledger.batch_view(&plan.batch, 0, 0).await?;
        if view.status != "submitted" {
            break;
        }
        let c = ledger
            .decision_command(&plan.batch, true, Some(&plan.digest), None)
            .await?;
        append(ledger, &[c], approver, "batch approval").await?;
    }
    say(format!(
        "payment batch {} for {province}: {} payments, USD {}, {} exception(s), approved; next: tranche batch file {} --format pain.001",
        plan.batch,
        plan.payments.len(),
        plan.total,
        plan.exceptions.len(),
        plan.batch
    ));
    Ok(())
}

/// Minor units of a canonical two-decimal amount.
fn usd_minor(text: &str) -> i64 {
    text.replace('.', "").parse().unwrap_or(0)
}

/// Creates the API users and prints their tokens once, with how to start the server.
async fn users(
    ledger: &Ledger,
    g: &Global,
    keys_dir: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    println!();
    println!("API users (each token is shown only now):");
    for (name, role, partner) in USERS {
        match tranche_api::server::routes::new_user(ledger, name, role, partner).await {
            Ok((_, token)) => println!("  {name:<20} {role:<9} {token}"),
            Err(e) if e.code == "user_exists" => {
                println!("  {name:<20} {role:<9} (exists already: its token is not shown again)");
            }
            Err(e) => anyhow::bail!("Failed to create the user {name}: {}", e.detail),
        }
    }
    let t = if g.database_url.is_none() && g.data_dir != std::path::Path::new("data") {
        format!("tranche --data-dir {}", g.data_dir.display())
    } else {
        "tranche".to_string()
    };
    println!();
    println!("Start the server:  {t} serve");
    println!(
        "  then, e.g.:      curl -H \"Authorization: Bearer <auditor token>\" \
         http://127.0.0.1:8080/v1/awards/{AWARD}"
    );
    println!("Explore:");
    println!("  {t} award list");
    println!("  {t} cycle run --award {AWARD} --period 2026-06 --dry-run --out reports");
    println!("  {t} log --limit 5");
    println!(
        "  {t} export demo-export && tranche-verify demo-export --vkey \"$(cat {})\"",
        g.data_dir.join("ledger.vkey").display()
    );
    if let Some(dir) = keys_dir {
        println!(
            "  {t} partner sign SHEET.csv --key {} --batch-id hias-2026-07-attendance-1",
            dir.join("hias.key").display()
        );
    }
    Ok(())
}
