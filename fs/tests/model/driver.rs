//! The driver: runs a sequence of operations on both sides and compares after every step.

use super::*;

/// Runs `ops` on a fresh Vfs and the model; the first disagreement, described.
pub(crate) fn run(ops: &[Op<Pick>]) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut ran = Vec::new();
    rt.block_on(run_async(ops, &mut ran))
        .map_err(|e| format!("{e}\nops as run: {ran:#?}"))
}

pub(crate) async fn run_async(ops: &[Op<Pick>], ran: &mut Vec<Op>) -> Result<(), String> {
    let mut w = World::new();
    let mut model = Model::default();
    for (i, op) in ops.iter().enumerate() {
        let op = &op.map(|pick| pick.path(&model));
        let at = || format!("step {i} ({op:?})");
        ran.push(op.clone());
        // Only a full-disk write can leave the model to be chosen after the fact.
        let before = matches!(op, Full(..)).then(|| model.clone());
        let want = if matches!(op, Crash) {
            Ok(())
        } else {
            model.apply(op)
        };
        let got = w.apply(op).await;
        let disk_full = matches!((op, want, got), (Full(..), Ok(()), Err(libc::ENOSPC)));
        if !disk_full && !agrees(want, got) {
            return Err(format!(
                "{}: model says {}, Vfs says {}",
                at(),
                errno_str(want),
                errno_str(got)
            ));
        }
        if let (Read(P(path), off, len), Ok(())) = (op, want) {
            let data = model.read(path, *off, *len);
            if w.last_read != data {
                return Err(format!(
                    "{}: read {:?}, model says {:?}",
                    at(),
                    Data(w.last_read.clone()),
                    Data(data)
                ));
            }
        }
        let tree = w.tree().await.map_err(|e| format!("{}: {e}", at()))?;
        if disk_full {
            let before = before.unwrap_or_default();
            model = what_a_full_disk_kept(&before, op, &tree).ok_or_else(|| {
                format!(
                    "{}: refused with ENOSPC, and the tree is neither as before nor with a \
                     prefix of the data written:\n{}",
                    at(),
                    diff(&before.tree, &tree)
                )
            })?;
        }
        match op {
            // A crash of the daemon loses nothing that returned: the intent log and the data
            // files are in the page cache, which outlives the process.
            Crash => {
                if tree != model.tree {
                    return Err(format!(
                        "{}: the crash lost or changed what had returned:\n{}",
                        at(),
                        diff(&model.tree, &tree)
                    ));
                }
            }
            _ => {
                if tree != model.tree {
                    return Err(format!(
                        "{}: tree differs from the model:\n{}",
                        at(),
                        diff(&model.tree, &tree)
                    ));
                }
            }
        }
        if matches!(op, Drain) {
            let pending = w.vfs().meta().pending_count().unwrap();
            if pending != 0 {
                return Err(format!("{}: {pending} journal records left", at()));
            }
            let (files, dirs) = w.remote_files();
            if files != model.files() {
                return Err(format!(
                    "{}: remote files differ:\n  model  {:?}\n  remote {:?}",
                    at(),
                    model.files().keys().collect::<Vec<_>>(),
                    files
                        .iter()
                        .map(|(k, v)| format!("{k}={:?}", Data(v.clone())))
                        .collect::<Vec<_>>()
                ));
            }
            let want_dirs: Vec<String> = model
                .tree
                .iter()
                .filter(|(_, o)| **o == Obj::Dir)
                .map(|(k, _)| k.join("/"))
                .collect();
            if dirs != want_dirs {
                return Err(format!(
                    "{}: remote folders differ: model {want_dirs:?}, remote {dirs:?}",
                    at()
                ));
            }
        }
    }
    Ok(())
}

/// The model after a write the full disk refused: as before, or with the first `k` bytes of
/// the data written, whichever `tree` (the Vfs's) shows. `None` if it shows neither.
fn what_a_full_disk_kept(before: &Model, op: &Op, tree: &Tree) -> Option<Model> {
    let Full(path, off, Data(data)) = op else {
        return None;
    };
    (0..=data.len()).find_map(|k| {
        let mut m = before.clone();
        if k > 0 {
            m.apply(&Write(path.clone(), *off, Data(data[..k].to_vec())))
                .ok()?;
        }
        (m.tree == *tree).then_some(m)
    })
}

pub(crate) fn errno_str(r: Result<(), i32>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(ALSO_EISDIR) => "ENOTEMPTY or EISDIR".into(),
        Err(HANG) => format!("nothing: no answer within {OP_TIMEOUT:?}"),
        Err(n) => format!("{} ({n})", std::io::Error::from_raw_os_error(n)),
    }
}
