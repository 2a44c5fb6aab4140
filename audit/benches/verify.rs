//! Verifier throughput on a synthetic export: `cargo bench -p tranche-audit --bench verify`.
//! The size defaults to 200,000 records; set TRANCHE_BENCH_RECORDS to change it.

fn main() {
    let records: u64 = std::env::var("TRANCHE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let t =
        tranche_audit::synth::bench(dir.path(), records).expect("the synthetic export verifies");
    println!(
        "verified {} records ({:.1} MiB) in {:.3} s: {:.0} records/s, {:.1} MiB/s",
        t.records,
        t.bytes as f64 / (1024.0 * 1024.0),
        t.elapsed.as_secs_f64(),
        t.records_per_sec(),
        t.mib_per_sec()
    );
}
