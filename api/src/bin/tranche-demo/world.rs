//! The generator: from one seed, the programme's cohorts, sessions and people, with their
//! attendance and milestones month by month, and the award with a budget sized for them.

use std::collections::{BTreeMap, HashSet};

use anyhow::{anyhow, Context as _};
use chrono::{Datelike as _, NaiveDate, Weekday};
use tranche_audit::programme::{
    AwardOpenBody, BudgetLine, CohortOpenBody, Date, Id, Milestone, Outcome, Pathway, Presence,
};
use tranche_ledger::service::programme::{ParticipantInput, SeededRandom};

use crate::spec::{
    CourseSpec, ProvinceSpec, AGE_BANDS, AWARD, BANKS, COHORT_SIZE, COURSES, FEMALE, HOLIDAYS,
    MALE, NATIONALITIES, PARTNERS, PATHWAYS, PROVINCES, STARTS, SURNAMES, WEEKS,
};

/// Small helpers over the ledger's seeded generator.
pub(crate) struct Rng(SeededRandom);

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

pub(crate) fn date(month: u32, day: u32) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(2026, month, day).with_context(|| format!("2026-{month}-{day}"))
}

pub(crate) fn id(text: &str) -> anyhow::Result<Id> {
    Id::parse(text).map_err(|e| anyhow!("{e}"))
}

/// Whole cents as a canonical USD amount.
pub(crate) fn usd(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `amount` rounded up to a multiple of `step`.
pub(crate) fn ceil_to(amount: i64, step: i64) -> i64 {
    (amount + step - 1) / step * step
}

/// How a participant attends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
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

pub(crate) struct Cohort {
    pub(crate) body: CohortOpenBody,
    pub(crate) start: NaiveDate,
    pub(crate) sessions: Vec<(Id, NaiveDate)>,
    pub(crate) course: Option<&'static CourseSpec>,
    pub(crate) partner: usize,
}

pub(crate) struct Person {
    pub(crate) input: ParticipantInput,
    pub(crate) partner: usize,
    pub(crate) pathway: Pathway,
    /// None: registered but never enrolled.
    pub(crate) cohort: Option<usize>,
    pub(crate) enrolled: NaiveDate,
    /// Per session of the cohort: what the sheet says (None: no record).
    pub(crate) attendance: Vec<Option<Presence>>,
    pub(crate) certification: Option<(Outcome, NaiveDate)>,
    pub(crate) milestones: Vec<(Milestone, Outcome, NaiveDate)>,
}

/// The whole programme before anything is written.
pub(crate) struct World {
    pub(crate) award: AwardOpenBody,
    pub(crate) cohorts: Vec<Cohort>,
    pub(crate) people: Vec<Person>,
}

pub(crate) fn cedula(rng: &mut Rng, province: u64) -> String {
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
pub(crate) struct Names {
    pub(crate) female: Vec<&'static str>,
    pub(crate) male: Vec<&'static str>,
    pub(crate) surnames: Vec<&'static str>,
}

pub(crate) fn person_input(
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
        "EC" => cedula(rng, province.cedula),
        "VE" => format!("V-{}{}", rng.range(10, 32), rng.digits(6)),
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

pub(crate) fn schedule(
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
pub(crate) fn visit_day(rng: &mut Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
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
pub(crate) fn world(n: usize, seed: u64) -> anyhow::Result<World> {
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
            let doc = tranche_ledger::service::programme::normalise_document(&input.document);
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
pub(crate) fn budget(
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
        // Registrations are checked against these (docs/FORMAT.md §2.6).
        provinces: Some(PROVINCES.iter().map(|p| p.name.to_string()).collect()),
        pathways: None,
        age_bands: Some(AGE_BANDS.iter().map(|(b, _)| b.to_string()).collect()),
        liquidation_days: None,
        future_days: None,
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

/// Minor units of a canonical two-decimal amount.
pub(crate) fn usd_minor(text: &str) -> i64 {
    text.replace('.', "").parse().unwrap_or(0)
}
