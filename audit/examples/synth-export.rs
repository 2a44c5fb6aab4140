//! Writes a synthetic export (test and benchmark data only): `synth-export DIR RECORDS`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(records)) = (args.next(), args.next()) else {
        eprintln!("usage: synth-export DIR RECORDS");
        return ExitCode::from(2);
    };
    let Ok(records) = records.parse::<u64>() else {
        eprintln!("RECORDS must be a number, not {records:?}");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    match tranche_audit::synth::write_export(&dir, records) {
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
