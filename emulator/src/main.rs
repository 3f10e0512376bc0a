//! fichier-emulator: placeholder until the emulator lands (issue 4).
fn main() {}
