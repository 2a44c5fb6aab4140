//! Disaggregated results: no suppressed cell can be recovered from what a report publishes. A
//! reader's best linear reasoning is run against every table, on random populations and on the
//! scenario's report: each column's cells sum to its published total (the same in every table),
//! so the hidden cells of a column share `total - shown`; bounds are tightened over every column
//! until nothing moves, and no hidden count or amount may be left with a single possible value.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use tranche_audit::money::Currency;
use tranche_audit::programme::Id;
use tranche_audit::report::{Disaggregation, DisaggregationTable};
use tranche_audit::report_compute::{disaggregate, totals, Measures, ATTRIBUTES};

/// Minor units of an amount string ("156.00" -> 15600).
fn minor(s: &str) -> i128 {
    s.replace('.', "").parse().expect("an amount")
}

/// The interval a reader can give each hidden cell of one column, from the column's total and
/// its shown cells: `[lo, hi]` per hidden row, tightened until a fixed point. `floor` is what a
/// hidden cell is known to be at least.
fn intervals(total: i128, cells: &[Option<i128>], floor: i128) -> Vec<(usize, i128, i128)> {
    let shown: i128 = cells.iter().flatten().sum();
    let sum = total - shown;
    let hidden: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].is_none()).collect();
    let mut lo: Vec<i128> = hidden.iter().map(|_| floor).collect();
    let mut hi: Vec<i128> = hidden.iter().map(|_| sum).collect();
    loop {
        let mut moved = false;
        for h in 0..hidden.len() {
            let others_hi: i128 = (0..hidden.len()).filter(|&o| o != h).map(|o| hi[o]).sum();
            let others_lo: i128 = (0..hidden.len()).filter(|&o| o != h).map(|o| lo[o]).sum();
            let (l, u) = (lo[h].max(sum - others_hi), hi[h].min(sum - others_lo));
            if (l, u) != (lo[h], hi[h]) {
                (lo[h], hi[h]) = (l, u);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    hidden
        .into_iter()
        .zip(lo.into_iter().zip(hi))
        .map(|(i, (l, u))| (i, l, u))
        .collect()
}

/// Every hidden cell (row, measure, what) whose value a reader can state exactly.
fn recoverable(t: &DisaggregationTable) -> Vec<String> {
    let mut out = Vec::new();
    if t.values.len() < 2 {
        // One row is the totals again: nothing is disaggregated, nothing disclosed.
        return out;
    }
    for j in 0..t.measures.len() {
        let total = t.totals[j].count.expect("totals are never hidden");
        let counts: Vec<Option<i128>> =
            t.cells.iter().map(|r| r[j].count.map(i128::from)).collect();
        // Zeros are shown unless the whole column is hidden.
        let floor = if counts.iter().all(Option::is_none) {
            0
        } else {
            1
        };
        for (i, l, u) in intervals(i128::from(total), &counts, floor) {
            if l >= u {
                out.push(format!("{} {} count = {l}", t.values[i], t.measures[j]));
            }
        }
        if let Some(total) = &t.totals[j].amount {
            let amounts: Vec<Option<i128>> = t
                .cells
                .iter()
                .map(|r| r[j].amount.as_deref().map(minor))
                .collect();
            for (i, l, u) in intervals(minor(total), &amounts, 0) {
                if l >= u {
                    out.push(format!("{} {} amount = {l}", t.values[i], t.measures[j]));
                }
            }
        }
    }
    out
}

/// The report is safe: nothing small shown, the totals one set for every table, and no
/// hidden cell recoverable from its table (the tables share only those totals).
pub fn assert_protected(d: &Disaggregation) {
    let first = &d.tables[0].totals;
    for t in &d.tables {
        assert_eq!(
            &t.totals, first,
            "{}: totals differ between tables",
            t.attribute
        );
        for row in &t.cells {
            for n in row.iter().filter_map(|c| c.count) {
                assert!(
                    n == 0 || n >= d.threshold,
                    "{}: a count of {n} is shown",
                    t.attribute
                );
            }
            for c in row {
                assert!(
                    c.count.is_some() || c.amount.is_none(),
                    "{}: an amount shown for a hidden count",
                    t.attribute
                );
            }
        }
        let found = recoverable(t);
        assert!(found.is_empty(), "{}: recoverable {found:?}", t.attribute);
    }
}

fn population(
    people: &[(u8, u8, u8, u8, u8, u8, u16)],
) -> (
    BTreeMap<Id, Measures>,
    HashMap<Id, BTreeMap<String, String>>,
) {
    let mut measures = BTreeMap::new();
    let mut attributes = HashMap::new();
    for (i, &(flags, sex, nat, prov, path, age, amount)) in people.iter().enumerate() {
        let id = Id::parse(&format!("p{i}")).expect("id");
        let amount = i64::from(amount) + 1;
        measures.insert(
            id.clone(),
            Measures {
                enrolled: flags & 1 != 0,
                attending: flags & 2 != 0,
                certified: flags & 4 != 0,
                c4t: if flags & 8 != 0 { amount * 100 } else { 0 },
                scholarship: if flags & 16 != 0 { 25_000 } else { 0 },
                seed: if flags & 32 != 0 { amount * 7 } else { 0 },
            },
        );
        let mut a = BTreeMap::new();
        // Value 0 leaves the attribute unrecorded ("not stated").
        for (k, v) in ATTRIBUTES.iter().zip([sex, nat, prov, path, age]) {
            if v > 0 {
                a.insert(k.to_string(), format!("v{v}"));
            }
        }
        attributes.insert(id, a);
    }
    (measures, attributes)
}

#[test]
fn the_leaks_of_showing_zeros_and_hiding_totals_are_closed() {
    let usd = Currency::parse("USD").expect("USD");
    // Two people in small provinces next to zeros, a big one, and a measure held by three.
    let mut people = vec![(0b1_1111u8, 1, 1, 1, 1, 1, 10); 20];
    people.push((0b10_0001, 2, 2, 2, 2, 2, 10));
    people.push((0b10_0001, 2, 2, 3, 2, 2, 30));
    people.push((0b10_0011, 1, 3, 4, 2, 3, 50));
    let (measures, attributes) = population(&people);
    let d = disaggregate(&measures, &attributes, 5, usd);
    assert_protected(&d);
    let province = d
        .tables
        .iter()
        .find(|t| t.attribute == "province")
        .expect("province");
    assert_eq!(province.values, ["v1", "v2", "v3", "v4"]);
    // Seed capital: 3 people, all in small provinces: the whole column, zeros included, hidden;
    // its total is published, the same in every table.
    assert!(province.cells.iter().all(|r| r[5].count.is_none()));
    for t in &d.tables {
        assert_eq!(t.totals, totals(&measures, usd));
        assert_eq!(t.totals[5].count, Some(3));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_suppressed_cell_can_be_recovered_from_the_published_figures(
        people in proptest::collection::vec(
            (0u8..64, 0u8..3, 0u8..4, 0u8..6, 0u8..3, 0u8..5, 0u16..500),
            0..80,
        ),
        threshold in 2u64..8,
    ) {
        let usd = Currency::parse("USD").expect("USD");
        let (measures, attributes) = population(&people);
        let d = disaggregate(&measures, &attributes, threshold, usd);
        prop_assert_eq!(d.tables.len(), ATTRIBUTES.len());
        assert_protected(&d);
    }
}
