//! Fixed sequences: regressions the property test once found, and checks of the harness.

use super::*;

/// Runs fixed `ops` and panics with the first disagreement.
pub(crate) fn check(ops: &[Op]) {
    let ops: Vec<Op<Pick>> = ops
        .iter()
        .map(|op| op.map(|p| Pick::Fixed(p.clone())))
        .collect();
    if let Err(e) = run(&ops) {
        panic!("{e}");
    }
}

/// A crash keeps every operation that returned, fsynced or not: renames and folders included.
#[test]
pub(crate) fn harness_crash_keeps_what_returned() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut w = World::new();
        let ops = [
            Create(p("a"), d("kept")),
            Mkdir(p("d")),
            Rename(p("a"), p("d/a"), false),
        ];
        for op in &ops {
            w.apply(op).await.unwrap();
        }
        w.crash();
        let mut want = Model::default();
        for op in &ops {
            want.apply(op).unwrap();
        }
        assert_eq!(w.tree().await.unwrap(), want.tree);
    });
}

#[test]
pub(crate) fn harness_crashes_twice_without_loss() {
    check(&[
        Create(p("a"), d("x")),
        Mkdir(p("d")),
        Rename(p("a"), p("d/a"), false),
        Crash,
        Mkdir(p("c")),
        Fsync(p("c")),
        Crash,
        Drain,
        Remount,
    ]);
}

#[test]
pub(crate) fn regression_rename_uploaded_folder_into_itself() {
    check(&[Mkdir(p("c")), Drain, Rename(p("c"), p("c/a"), false)]);
}

#[test]
pub(crate) fn regression_failed_rename_of_uploaded_file_over_folder_moves_it_on_the_remote() {
    check(&[
        Create(p("a"), d("")),
        Drain,
        Mkdir(p("d")),
        Rename(p("a"), p("d"), false),
        Drain,
    ]);
}

#[test]
pub(crate) fn regression_rename_over_folder_with_local_only_content_moves_it_on_the_remote() {
    check(&[
        Mkdir(p("c")),
        Mkdir(p("d")),
        Drain,
        Create(p("d/a"), d("x")),
        Rename(p("c"), p("d"), false),
        Drain,
    ]);
}

#[test]
pub(crate) fn regression_fsync_of_a_clean_file_is_no_durability_point() {
    check(&[Create(p("a"), d("")), Mkdir(p("d")), Fsync(p("a")), Crash]);
}

#[test]
pub(crate) fn regression_drain_with_nothing_to_upload_is_no_durability_point() {
    check(&[Create(p("a"), d("")), Unlink(p("a")), Drain, Crash]);
}

#[test]
pub(crate) fn regression_drain_hangs_after_local_folder_renamed_over_uploaded_folder() {
    check(&[
        Mkdir(p("d")),
        Drain,
        Mkdir(p("c")),
        Rename(p("c"), p("d"), false),
        Drain,
    ]);
}

/// A write refused by a full cache disk, then a drain: the remote must end as the model.
#[test]
fn regression_full_disk_write_then_drain() {
    check(&[
        Create(p("a"), d("")),
        Write(p("a"), 18, d("aaa")),
        Drain,
        Full(p("a"), 0, d("a")),
        Drain,
    ]);
}

/// A folder made (a noted commit) after a rename of a synced folder, then a create that fails
/// on its name: the crash must keep the folder.
#[test]
fn regression_mkdir_after_a_remote_rename_survives_a_crash() {
    check(&[
        Mkdir(p("a")),
        Drain,
        Rename(p("a"), p("b"), false),
        Mkdir(p("a")),
        Create(p("a"), d("")),
        Crash,
    ]);
}
