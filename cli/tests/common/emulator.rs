//! The 1Fichier emulator for end-to-end tests: the shared harness
//! (`fichier_emulator::testing`), with two customer keys (`KEY`, `KEY2`) and one non-customer
//! key (`FREE_KEY`).

pub const KEY: &str = "good-key-0123456789";
pub const KEY2: &str = "second-key-0123456789";
pub const FREE_KEY: &str = "free-key-0123456789";

pub use fichier_emulator::testing::Emulator;

/// Starts an emulator that knows this harness's keys, with `extra` flags.
pub fn start(extra: &[&str]) -> Emulator {
    let mut args = vec![
        "--api-key",
        KEY,
        "--api-key",
        KEY2,
        "--non-customer-key",
        FREE_KEY,
    ];
    args.extend_from_slice(extra);
    Emulator::start(&args)
}
