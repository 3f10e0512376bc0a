//! Random operation sequences (proptest) and the property test itself.

use super::*;

pub(crate) const LEAVES: [&str; 4] = ["a", "b", "c", "d"];
pub(crate) const DIRS: [&str; 2] = ["c", "d"];

pub(crate) fn fixed() -> impl Strategy<Value = Pick> {
    let leaf = prop::sample::select(&LEAVES[..]);
    let dir = prop::sample::select(&DIRS[..]);
    prop_oneof![
        leaf.clone()
            .prop_map(|n| Pick::Fixed(P(vec![n.to_string()]))),
        (dir, leaf).prop_map(|(d, n)| Pick::Fixed(P(vec![d.to_string(), n.to_string()]))),
    ]
}

/// Mostly something that exists.
pub(crate) fn existing() -> impl Strategy<Value = Pick> {
    prop_oneof![3 => (0..64usize).prop_map(Pick::Existing), 1 => fixed()]
}

/// Half the time something that exists.
pub(crate) fn any_path() -> impl Strategy<Value = Pick> {
    prop_oneof![(0..64usize).prop_map(Pick::Existing), fixed()]
}

pub(crate) fn data() -> impl Strategy<Value = Data> {
    prop::collection::vec(b'a'..=b'z', 1..8).prop_map(Data)
}

/// A few bytes, or enough to need new pages of the data file.
pub(crate) fn full_data() -> impl Strategy<Value = Data> {
    prop_oneof![3 => data(), 1 => (b'a'..=b'z', 1usize..20_000).prop_map(|(b, n)| Data(vec![b; n]))]
}

pub(crate) fn offset() -> impl Strategy<Value = u64> {
    // Mostly small; sometimes just below a 1 MiB block boundary, so the file spans two blocks.
    prop_oneof![9 => 0..24u64, 1 => Just((1 << 20) - 3)]
}

pub(crate) fn op() -> impl Strategy<Value = Op<Pick>> {
    prop_oneof![
        4 => (fixed(), prop_oneof![1 => Just(d("")), 3 => data()])
            .prop_map(|(p, d)| Create(p, d)),
        4 => (existing(), offset(), data()).prop_map(|(p, o, d)| Write(p, o, d)),
        2 => (existing(), offset()).prop_map(|(p, s)| Truncate(p, s)),
        5 => (existing(), any_path(), prop::bool::weighted(0.15))
            .prop_map(|(a, b, n)| Rename(a, b, n)),
        2 => existing().prop_map(Unlink),
        3 => fixed().prop_map(Mkdir),
        2 => existing().prop_map(Rmdir),
        3 => existing().prop_map(Fsync),
        2 => (existing(), offset(), 0..16u32).prop_map(|(p, o, n)| Read(p, o, n)),
        3 => Just(Drain),
        1 => Just(Remount),
        3 => Just(Crash),
        2 => (existing(), any::<bool>()).prop_map(|(p, t)| LoseCache(p, t)),
        2 => (existing(), offset(), full_data()).prop_map(|(p, o, d)| Full(p, o, d)),
    ]
}

pub(crate) fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(Config {
        cases: env_u32("MODEL_CASES", 64),
        // No regression files in the source tree: failures are kept as #[test]s below.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn vfs_agrees_with_the_model(
        ops in prop::collection::vec(op(), 1..=env_u32("MODEL_OPS", 40) as usize)
    ) {
        if let Err(e) = run(&ops) {
            return Err(TestCaseError::fail(e));
        }
    }
}
