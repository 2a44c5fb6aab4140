//! The closed vocabularies of the participants' disaggregation attributes (`sex`,
//! `nationality`, `province`, `pathway`, `age_band`). Free text split one group into several
//! (`F`, `female`, `Female`) and a disaggregated report counted them apart; a registration now
//! takes only these values, compared without regard to case and stored in the spelling given
//! here. An award may declare its own provinces, pathways and age bands (`award.open`,
//! docs/FORMAT.md §2.6); an award opened without them (every award of an older journal) takes
//! the defaults below. A blank value is "not stated" and always allowed.

use crate::codes::Code;
use crate::invalid::Invalid;
use crate::programme::AwardOpenBody;

/// What a blank value is recorded as.
pub const NOT_STATED: &str = "not stated";

/// `sex`: the values donors' disaggregation asks for (BPRM: female, male, other).
pub const SEXES: [&str; 3] = ["female", "male", "other"];

/// `pathway` of an award that declares none: the three pathways cohorts follow.
pub const DEFAULT_PATHWAYS: [&str; 3] = [
    "employability",
    "entrepreneurship",
    "vocational-scholarship",
];

/// `age_band` of an award that declares none: the bands of the Caminando reporting.
pub const DEFAULT_AGE_BANDS: [&str; 6] = ["under-18", "18-24", "25-34", "35-44", "45-59", "60+"];

/// The most values an award may list for one attribute.
pub const MAX_VOCABULARY: usize = 200;

/// `nationality`: ISO 3166-1 alpha-2 codes with their English short names (the names only
/// help a refusal suggest the code: `Venezuela` is not a code, `VE` is).
pub const COUNTRIES: [(&str, &str); 249] = [
    ("AD", "Andorra"),
    ("AE", "United Arab Emirates"),
    ("AF", "Afghanistan"),
    ("AG", "Antigua & Barbuda"),
    ("AI", "Anguilla"),
    ("AL", "Albania"),
    ("AM", "Armenia"),
    ("AO", "Angola"),
    ("AQ", "Antarctica"),
    ("AR", "Argentina"),
    ("AS", "Samoa (American)"),
    ("AT", "Austria"),
    ("AU", "Australia"),
    ("AW", "Aruba"),
    ("AX", "Åland Islands"),
    ("AZ", "Azerbaijan"),
    ("BA", "Bosnia & Herzegovina"),
    ("BB", "Barbados"),
    ("BD", "Bangladesh"),
    ("BE", "Belgium"),
    ("BF", "Burkina Faso"),
    ("BG", "Bulgaria"),
    ("BH", "Bahrain"),
    ("BI", "Burundi"),
    ("BJ", "Benin"),
    ("BL", "St Barthelemy"),
    ("BM", "Bermuda"),
    ("BN", "Brunei"),
    ("BO", "Bolivia"),
    ("BQ", "Caribbean NL"),
    ("BR", "Brazil"),
    ("BS", "Bahamas"),
    ("BT", "Bhutan"),
    ("BV", "Bouvet Island"),
    ("BW", "Botswana"),
    ("BY", "Belarus"),
    ("BZ", "Belize"),
    ("CA", "Canada"),
    ("CC", "Cocos (Keeling) Islands"),
    ("CD", "Congo (Dem. Rep.)"),
    ("CF", "Central African Rep."),
    ("CG", "Congo (Rep.)"),
    ("CH", "Switzerland"),
    ("CI", "Côte d'Ivoire"),
    ("CK", "Cook Islands"),
    ("CL", "Chile"),
    ("CM", "Cameroon"),
    ("CN", "China"),
    ("CO", "Colombia"),
    ("CR", "Costa Rica"),
    ("CU", "Cuba"),
    ("CV", "Cape Verde"),
    ("CW", "Curaçao"),
    ("CX", "Christmas Island"),
    ("CY", "Cyprus"),
    ("CZ", "Czech Republic"),
    ("DE", "Germany"),
    ("DJ", "Djibouti"),
    ("DK", "Denmark"),
    ("DM", "Dominica"),
    ("DO", "Dominican Republic"),
    ("DZ", "Algeria"),
    ("EC", "Ecuador"),
    ("EE", "Estonia"),
    ("EG", "Egypt"),
    ("EH", "Western Sahara"),
    ("ER", "Eritrea"),
    ("ES", "Spain"),
    ("ET", "Ethiopia"),
    ("FI", "Finland"),
    ("FJ", "Fiji"),
    ("FK", "Falkland Islands"),
    ("FM", "Micronesia"),
    ("FO", "Faroe Islands"),
    ("FR", "France"),
    ("GA", "Gabon"),
    ("GB", "Britain (UK)"),
    ("GD", "Grenada"),
    ("GE", "Georgia"),
    ("GF", "French Guiana"),
    ("GG", "Guernsey"),
    ("GH", "Ghana"),
    ("GI", "Gibraltar"),
    ("GL", "Greenland"),
    ("GM", "Gambia"),
    ("GN", "Guinea"),
    ("GP", "Guadeloupe"),
    ("GQ", "Equatorial Guinea"),
    ("GR", "Greece"),
    ("GS", "South Georgia & the South Sandwich Islands"),
    ("GT", "Guatemala"),
    ("GU", "Guam"),
    ("GW", "Guinea-Bissau"),
    ("GY", "Guyana"),
    ("HK", "Hong Kong"),
    ("HM", "Heard Island & McDonald Islands"),
    ("HN", "Honduras"),
    ("HR", "Croatia"),
    ("HT", "Haiti"),
    ("HU", "Hungary"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IM", "Isle of Man"),
    ("IN", "India"),
    ("IO", "British Indian Ocean Territory"),
    ("IQ", "Iraq"),
    ("IR", "Iran"),
    ("IS", "Iceland"),
    ("IT", "Italy"),
    ("JE", "Jersey"),
    ("JM", "Jamaica"),
    ("JO", "Jordan"),
    ("JP", "Japan"),
    ("KE", "Kenya"),
    ("KG", "Kyrgyzstan"),
    ("KH", "Cambodia"),
    ("KI", "Kiribati"),
    ("KM", "Comoros"),
    ("KN", "St Kitts & Nevis"),
    ("KP", "Korea (North)"),
    ("KR", "Korea (South)"),
    ("KW", "Kuwait"),
    ("KY", "Cayman Islands"),
    ("KZ", "Kazakhstan"),
    ("LA", "Laos"),
    ("LB", "Lebanon"),
    ("LC", "St Lucia"),
    ("LI", "Liechtenstein"),
    ("LK", "Sri Lanka"),
    ("LR", "Liberia"),
    ("LS", "Lesotho"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("LV", "Latvia"),
    ("LY", "Libya"),
    ("MA", "Morocco"),
    ("MC", "Monaco"),
    ("MD", "Moldova"),
    ("ME", "Montenegro"),
    ("MF", "St Martin (French)"),
    ("MG", "Madagascar"),
    ("MH", "Marshall Islands"),
    ("MK", "North Macedonia"),
    ("ML", "Mali"),
    ("MM", "Myanmar (Burma)"),
    ("MN", "Mongolia"),
    ("MO", "Macau"),
    ("MP", "Northern Mariana Islands"),
    ("MQ", "Martinique"),
    ("MR", "Mauritania"),
    ("MS", "Montserrat"),
    ("MT", "Malta"),
    ("MU", "Mauritius"),
    ("MV", "Maldives"),
    ("MW", "Malawi"),
    ("MX", "Mexico"),
    ("MY", "Malaysia"),
    ("MZ", "Mozambique"),
    ("NA", "Namibia"),
    ("NC", "New Caledonia"),
    ("NE", "Niger"),
    ("NF", "Norfolk Island"),
    ("NG", "Nigeria"),
    ("NI", "Nicaragua"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NP", "Nepal"),
    ("NR", "Nauru"),
    ("NU", "Niue"),
    ("NZ", "New Zealand"),
    ("OM", "Oman"),
    ("PA", "Panama"),
    ("PE", "Peru"),
    ("PF", "French Polynesia"),
    ("PG", "Papua New Guinea"),
    ("PH", "Philippines"),
    ("PK", "Pakistan"),
    ("PL", "Poland"),
    ("PM", "St Pierre & Miquelon"),
    ("PN", "Pitcairn"),
    ("PR", "Puerto Rico"),
    ("PS", "Palestine"),
    ("PT", "Portugal"),
    ("PW", "Palau"),
    ("PY", "Paraguay"),
    ("QA", "Qatar"),
    ("RE", "Réunion"),
    ("RO", "Romania"),
    ("RS", "Serbia"),
    ("RU", "Russia"),
    ("RW", "Rwanda"),
    ("SA", "Saudi Arabia"),
    ("SB", "Solomon Islands"),
    ("SC", "Seychelles"),
    ("SD", "Sudan"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("SH", "St Helena"),
    ("SI", "Slovenia"),
    ("SJ", "Svalbard & Jan Mayen"),
    ("SK", "Slovakia"),
    ("SL", "Sierra Leone"),
    ("SM", "San Marino"),
    ("SN", "Senegal"),
    ("SO", "Somalia"),
    ("SR", "Suriname"),
    ("SS", "South Sudan"),
    ("ST", "Sao Tome & Principe"),
    ("SV", "El Salvador"),
    ("SX", "St Maarten (Dutch)"),
    ("SY", "Syria"),
    ("SZ", "Eswatini (Swaziland)"),
    ("TC", "Turks & Caicos Is"),
    ("TD", "Chad"),
    ("TF", "French S. Terr."),
    ("TG", "Togo"),
    ("TH", "Thailand"),
    ("TJ", "Tajikistan"),
    ("TK", "Tokelau"),
    ("TL", "East Timor"),
    ("TM", "Turkmenistan"),
    ("TN", "Tunisia"),
    ("TO", "Tonga"),
    ("TR", "Turkey"),
    ("TT", "Trinidad & Tobago"),
    ("TV", "Tuvalu"),
    ("TW", "Taiwan"),
    ("TZ", "Tanzania"),
    ("UA", "Ukraine"),
    ("UG", "Uganda"),
    ("UM", "US minor outlying islands"),
    ("US", "United States"),
    ("UY", "Uruguay"),
    ("UZ", "Uzbekistan"),
    ("VA", "Vatican City"),
    ("VC", "St Vincent"),
    ("VE", "Venezuela"),
    ("VG", "Virgin Islands (UK)"),
    ("VI", "Virgin Islands (US)"),
    ("VN", "Vietnam"),
    ("VU", "Vanuatu"),
    ("WF", "Wallis & Futuna"),
    ("WS", "Samoa (western)"),
    ("YE", "Yemen"),
    ("YT", "Mayotte"),
    ("ZA", "South Africa"),
    ("ZM", "Zambia"),
    ("ZW", "Zimbabwe"),
];

/// The values one award allows for each attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    /// `None`: the award lists no provinces, so any province name is taken (older awards).
    pub provinces: Option<Vec<String>>,
    pub pathways: Vec<String>,
    pub age_bands: Vec<String>,
}

impl Default for Vocabulary {
    fn default() -> Self {
        Vocabulary {
            provinces: None,
            pathways: DEFAULT_PATHWAYS.iter().map(|s| s.to_string()).collect(),
            age_bands: DEFAULT_AGE_BANDS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Vocabulary {
    /// The vocabulary of `award`: its own lists, the defaults for those it does not declare.
    pub fn of(award: &AwardOpenBody) -> Self {
        let d = Vocabulary::default();
        Vocabulary {
            provinces: award.provinces.clone(),
            pathways: award.pathways.clone().unwrap_or(d.pathways),
            age_bands: award.age_bands.clone().unwrap_or(d.age_bands),
        }
    }

    /// The value of `attribute` in its listed spelling, or a refusal that names the field,
    /// the rule (`not_in_vocabulary`) and the allowed values. A blank value is "not stated".
    pub fn check(&self, attribute: &str, value: &str) -> Result<String, Invalid> {
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case(NOT_STATED) {
            return Ok(NOT_STATED.to_string());
        }
        let refuse = |allowed: String| {
            Err(Invalid::new(
                attribute,
                Code::NotInVocabulary,
                format!(
                    "{value:?} is not one of the allowed values: {allowed} (or blank: not stated)"
                ),
            ))
        };
        match attribute {
            "sex" => listed(SEXES, value).map_or_else(|| refuse(SEXES.join(", ")), Ok),
            "nationality" => {
                if let Some((code, _)) = COUNTRIES
                    .iter()
                    .find(|(c, _)| c.eq_ignore_ascii_case(value))
                {
                    return Ok(code.to_string());
                }
                let hint = COUNTRIES
                    .iter()
                    .find(|(_, n)| n.eq_ignore_ascii_case(value))
                    .map_or_else(String::new, |(c, n)| format!("; {n} is {c}"));
                Err(Invalid::new(
                    attribute,
                    Code::NotInVocabulary,
                    format!(
                        "{value:?} is not an ISO 3166-1 alpha-2 country code (two letters: VE, CO, EC, …{hint}) (or blank: not stated)"
                    ),
                ))
            }
            "province" => match &self.provinces {
                None => Ok(value.to_string()),
                Some(list) => listed(list.iter().map(String::as_str), value)
                    .map_or_else(|| refuse(list.join(", ")), Ok),
            },
            "pathway" => listed(self.pathways.iter().map(String::as_str), value)
                .map_or_else(|| refuse(self.pathways.join(", ")), Ok),
            "age_band" => listed(self.age_bands.iter().map(String::as_str), value)
                .map_or_else(|| refuse(self.age_bands.join(", ")), Ok),
            _ => Ok(value.to_string()),
        }
    }
}

/// The entry of `list` equal to `value` case aside, in the list's spelling.
fn listed<'a>(list: impl IntoIterator<Item = &'a str>, value: &str) -> Option<String> {
    list.into_iter()
        .find(|v| v.eq_ignore_ascii_case(value))
        .map(str::to_string)
}

/// Checks one list an award declares: 1 to [`MAX_VOCABULARY`] names, none repeated (case
/// aside), none `not stated`.
pub fn check_list(list: &[String], field: &str) -> Result<(), Invalid> {
    if list.is_empty() || list.len() > MAX_VOCABULARY {
        return Err(Invalid::new(
            field,
            Code::InvalidVocabulary,
            format!("a list of 1 to {MAX_VOCABULARY} values"),
        ));
    }
    for (i, v) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        crate::programme::check_name(v, &f)?;
        if v.trim() != v || v.eq_ignore_ascii_case(NOT_STATED) {
            return Err(Invalid::new(
                f,
                Code::InvalidVocabulary,
                format!("{v:?}: a value has no leading or trailing spaces and is not {NOT_STATED:?} (a blank cell is)"),
            ));
        }
        if list[..i].iter().any(|o| o.eq_ignore_ascii_case(v)) {
            return Err(Invalid::new(
                f,
                Code::InvalidVocabulary,
                format!("{v:?} appears twice (case aside)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_taken_in_its_listed_spelling_and_a_stray_one_is_refused_with_the_list() {
        let v = Vocabulary::default();
        assert_eq!(v.check("sex", "Female").as_deref(), Ok("female"));
        assert_eq!(v.check("sex", " ").as_deref(), Ok(NOT_STATED));
        let e = v.check("sex", "F").expect_err("refused");
        assert_eq!((e.field.as_str(), e.code), ("sex", Code::NotInVocabulary));
        assert!(e.detail.contains("female, male, other"), "{}", e.detail);
        assert_eq!(v.check("nationality", "ve").as_deref(), Ok("VE"));
        let e = v.check("nationality", "Venezuela").expect_err("refused");
        assert!(e.detail.contains("Venezuela is VE"), "{}", e.detail);
        assert_eq!(v.check("province", "Anywhere").as_deref(), Ok("Anywhere"));
        let e = v.check("age_band", "25 to 34").expect_err("refused");
        assert!(e.detail.contains("18-24, 25-34"), "{}", e.detail);
    }

    #[test]
    fn the_country_table_is_sorted_and_every_code_is_two_capital_letters() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(COUNTRIES
            .iter()
            .all(|(c, _)| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn an_award_list_with_a_repeat_or_nothing_in_it_is_refused() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_list(&list(&["Imbabura", "Carchi"]), "provinces").is_ok());
        let e = check_list(&list(&["Imbabura", "imbabura"]), "provinces").expect_err("refused");
        assert_eq!(
            (e.field.as_str(), e.code),
            ("provinces[1]", Code::InvalidVocabulary)
        );
        let e = check_list(&[], "age_bands").expect_err("refused");
        assert_eq!(e.code, Code::InvalidVocabulary);
    }
}
