//! POSIX conformance through a real mount: pjdfstest (against the checked-in list of expected
//! failures, which must match exactly) and fsx with fixed seeds, by scripts/conformance/run.sh.
//! The tools are built by scripts/conformance/install-tools.sh (.ci/run does it); without
//! them this test fails and says so, it never passes silently.

use std::path::Path;
use std::process::Command;

/// The local provider, then a mount of the 1Fichier emulator (a real HTTP server on loopback;
/// two fsx seeds there, to keep CI time in bounds). One after the other: pjdfstest's timing
/// checks do not like sharing two cores with a second run.
#[test]
fn pjdfstest_and_fsx_on_local_and_1fichier_mounts() {
    run_conformance("local", "1 2 3");
    run_conformance("1fichier", "1 2");
}

fn run_conformance(remote: &str, fsx_seeds: &str) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tools = repo.join("target/tools/bin");
    for tool in ["pjdfstest", "fsx"] {
        assert!(
            tools.join(tool).is_file(),
            "{} is missing: run scripts/conformance/install-tools.sh first (CI's .ci/run does)",
            tools.join(tool).display()
        );
    }
    let emu = fichier_emulator::testing::Emulator::start(&["--api-key", "conformance-key"]);
    let out = Command::new("bash")
        .arg(repo.join("scripts/conformance/run.sh"))
        .env("OURCLONE_FS_BIN", env!("CARGO_BIN_EXE_ourclone-fs"))
        .env("OURCLONE_FICHIER_ENDPOINT", emu.base())
        .env("CONFORMANCE_REMOTE", remote)
        .env("FSX_SEEDS", fsx_seeds)
        .output()
        .expect("run scripts/conformance/run.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "scripts/conformance/run.sh failed (exit {:?}):\n{text}",
        out.status.code()
    );
}
