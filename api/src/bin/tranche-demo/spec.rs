//! The fixed parts of the demo programme: its partners, users, provinces, courses, pathways,
//! calendar and the names and shares its people are drawn from.

use chrono::Weekday;
use tranche_audit::programme::Pathway;

/// The demo's award.
pub(crate) const AWARD: &str = "bprm-ec-2026";
/// The default seed of the generator.
pub(crate) const DEFAULT_SEED: u64 = 20_260_101;
/// Registration commands per append (two per participant).
pub(crate) const REGISTER_BATCH: usize = 2_000;
/// Evidence items' JSON bytes per statement at most, so every record stays well under 64 KiB.
pub(crate) const STATEMENT_BYTES: usize = 56_000;
/// Participants per cohort, about.
pub(crate) const COHORT_SIZE: usize = 25;
/// The months the demo runs, January to June 2026.
pub(crate) const MONTHS: std::ops::RangeInclusive<u32> = 1..=6;

pub(crate) struct PartnerSpec {
    pub(crate) id: &'static str,
    /// Prefix of its cohort and batch ids.
    pub(crate) short: &'static str,
    pub(crate) name: &'static str,
    /// Its API user, also the actor of what it records.
    pub(crate) user: &'static str,
}

pub(crate) const PARTNERS: [PartnerSpec; 2] = [
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
pub(crate) const USERS: [(&str, &str, Option<&str>); 8] = [
    ("admin", "admin", None),
    ("finance-preparer", "preparer", None),
    ("finance-approver-1", "approver", None),
    ("finance-approver-2", "approver", None),
    ("hias-field", "partner", Some("hias")),
    ("un-women-field", "partner", Some("un-women-ec")),
    ("auditor", "auditor", None),
    ("bprm-donor", "donor", None),
];
pub(crate) const ADMIN: &str = "user:admin";
pub(crate) const PREPARER: &str = "user:finance-preparer";

pub(crate) struct ProvinceSpec {
    pub(crate) name: &'static str,
    pub(crate) code: &'static str,
    pub(crate) town: &'static str,
    /// Share of the participants, percent.
    pub(crate) weight: u64,
    /// The first two digits of an Ecuadorian cédula issued there.
    pub(crate) cedula: u64,
}

pub(crate) const PROVINCES: [ProvinceSpec; 4] = [
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

pub(crate) struct CourseSpec {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) provider: &'static str,
    /// The certification exam, the course's last day: (month, day) in 2026.
    pub(crate) ends: (u32, u32),
}

pub(crate) const COURSES: [CourseSpec; 4] = [
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

pub(crate) const PATHWAYS: [Pathway; 3] = [
    Pathway::VocationalScholarship,
    Pathway::Entrepreneurship,
    Pathway::Employability,
];

/// Public holidays in Ecuador in the demo's months: no sessions.
pub(crate) const HOLIDAYS: [(u32, u32); 5] = [(1, 1), (2, 16), (2, 17), (4, 3), (5, 1)];

/// When cohorts start (a Monday) and on which days they meet, by cohort number.
pub(crate) const STARTS: [(u32, u32); 5] = [(1, 5), (1, 12), (1, 5), (1, 19), (2, 2)];
pub(crate) const WEEKS: [&[Weekday]; 4] = [
    &[Weekday::Mon, Weekday::Wed, Weekday::Fri],
    &[Weekday::Mon, Weekday::Tue, Weekday::Thu, Weekday::Fri],
    &[Weekday::Tue, Weekday::Thu, Weekday::Sat],
    &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu],
];

pub(crate) const FEMALE: &str =
    "María Ana Carmen Yuliana Daniela Génesis Yusmary Andreína Mariángel Luisa Paola \
     Rosa Gabriela Karina Yelitza Fernanda Valentina Dayana Johana Lorena Milagros \
     Nathaly Patricia Sofía Estefanía Katherine Mayerli Yenny Leidy Diana Marisol \
     Alejandra Adriana Jessica Liliana Norma Verónica Yohana Wendy Maryuri";
pub(crate) const MALE: &str =
    "José Luis Carlos Jhon Andrés Miguel Jorge Wilmer Kevin Darwin Jesús Édgar";
pub(crate) const SURNAMES: &str =
    "González Rodríguez Pérez Hernández García Martínez López Sánchez Ramírez Torres \
     Quintero Rojas Mendoza Contreras Guerrero Vargas Castillo Moreno Cedeño Quiñónez \
     Cuero Pozo Chalá Ipiales Andrade Benítez Cuásquer Villalobos Parra Urdaneta \
     Montaño Caicedo Ortiz Salazar Jaramillo Arias";
pub(crate) const AGE_BANDS: [(&str, u64); 5] = [
    ("18-24", 20),
    ("25-34", 38),
    ("35-44", 27),
    ("45-59", 12),
    ("60+", 3),
];
pub(crate) const NATIONALITIES: [(&str, u64); 3] = [("VE", 62), ("EC", 25), ("CO", 13)];
pub(crate) const BANKS: [(&str, u64); 4] = [
    ("Banco Pichincha", 40),
    ("BanEcuador", 25),
    ("Cooperativa JEP", 15),
    ("Produbanco", 20),
];
