//! Writes a synthetic export (test and benchmark data only): `synth-export DIR RECORDS`,
//! `synth-export DIR RECORDS evidence` for the shape with a signed evidence statement every 100
//! records (`Shape::WITH_EVIDENCE`, as `tranche-bench` verifies), or `synth-export DIR example`
//! for the four-record worked example of `docs/FORMAT.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use tranche_audit::synth;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(what)) = (args.next(), args.next()) else {
        eprintln!("usage: synth-export DIR RECORDS [evidence] | synth-export DIR example");
        return ExitCode::from(2);
    };
    let shape = match args.next().as_deref() {
        None => synth::Shape::default(),
        Some("evidence") => synth::Shape::WITH_EVIDENCE,
        Some(other) => {
            eprintln!("the shape must be \"evidence\" or left out, not {other:?}");
            return ExitCode::from(2);
        }
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let written = if what == "example" {
        synth::write_example(&dir)
    } else {
        match what.parse::<u64>() {
            Ok(records) => synth::write_export_with(&dir, records, shape),
            Err(_) => {
                eprintln!("RECORDS must be a number or \"example\", not {what:?}");
                return ExitCode::from(2);
            }
        }
    };
    match written {
        Ok(info) => {
            println!(
                "wrote {} records ({} bytes) to {}; vkey {}",
                info.records,
                info.bytes,
                dir.display(),
                info.vkey
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("writing the export failed: {e}");
            ExitCode::from(1)
        }
    }
}
