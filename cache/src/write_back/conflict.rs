//! Conflicts: when the remote copy of a file changed since we last saw it and we hold a dirty
//! version, ours is uploaded beside it under a conflict name and both are kept. Owns the
//! "did it change?" test and the naming; must not call the remote.

use std::time::{SystemTime, UNIX_EPOCH};

use ourclone_remote::Entry;

use crate::state::node::{to_nanos, RemoteState};

/// True when `now` is still the object we last saw as `known`. Where the provider names
/// objects by id or content hash, those decide: its dates come from the server's clock, which
/// need not agree with ours (1Fichier stamps uploads with its own time), so a date alone never
/// makes our own upload look like someone else's change.
pub fn unchanged(known: &RemoteState, now: &Entry) -> bool {
    let same_id = match (&known.id, &now.id) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let same_hash = match (&known.hash, &now.hash) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let identified =
        (known.id.is_some() && now.id.is_some()) || (known.hash.is_some() && now.hash.is_some());
    let same_mtime = identified
        || match (known.mtime, now.mtime) {
            (Some(a), Some(b)) => a == to_nanos(b),
            _ => true,
        };
    same_id && same_hash && same_mtime && known.size == now.size
}

/// Longest name most file systems and providers accept, in bytes.
pub const NAME_MAX: usize = 255;

/// `report.pdf` → `report.conflict-<host>-<YYYYmmdd-HHMMSS>.pdf`, shortened to fit in
/// [`NAME_MAX`] bytes: the stem loses its tail first, the extension is kept (unless it is so
/// long it cannot be), and the host name is cut last.
pub fn conflict_name(name: &str, host: &str, at: SystemTime) -> String {
    let stamp = utc_stamp(at);
    let host = cut(host, 64);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 32 => (stem, Some(ext)),
        _ => (name, None),
    };
    let tag = format!(".conflict-{host}-{stamp}");
    let ext_len = ext.map_or(0, |e| e.len() + 1);
    let stem = cut(stem, NAME_MAX.saturating_sub(tag.len() + ext_len).max(1));
    match ext {
        Some(ext) => format!("{stem}{tag}.{ext}"),
        None => format!("{stem}{tag}"),
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// This machine's name, for conflict names.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(['/', ' '], "_"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

fn utc_stamp(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn names_keep_the_extension() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            conflict_name("report.pdf", "box", t),
            "report.conflict-box-20231114-221320.pdf"
        );
        assert_eq!(
            conflict_name("Makefile", "box", t),
            "Makefile.conflict-box-20231114-221320"
        );
        assert_eq!(
            conflict_name(".bashrc", "box", t),
            ".bashrc.conflict-box-20231114-221320"
        );
    }

    /// Issue 8, item 8: conflict names fit in 255 bytes, keep the extension, and cut on
    /// character boundaries.
    #[test]
    fn item08_conflict_names_fit_in_255_bytes() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let long = format!("{}.pdf", "é".repeat(126));
        assert_eq!(long.len(), 256);
        let c = conflict_name(&long, &"h".repeat(300), t);
        assert!(c.len() <= NAME_MAX, "{} bytes: {c}", c.len());
        assert!(c.ends_with("-20231114-221320.pdf"), "{c}");
        assert!(c.starts_with("éé"), "{c}");
        let c = conflict_name(&"x".repeat(255), "box", t);
        assert!(
            c.len() <= NAME_MAX && c.ends_with("-20231114-221320"),
            "{c}"
        );
        let c = conflict_name(&format!("a.{}", "e".repeat(250)), "box", t);
        assert!(c.len() <= NAME_MAX, "{c}");
    }

    #[test]
    fn change_is_any_of_id_size_hash_or_mtime() {
        let known = RemoteState {
            id: Some("a".into()),
            size: 3,
            mtime: Some(5),
            hash: None,
        };
        let mut e = Entry {
            name: "x".into(),
            kind: ourclone_remote::EntryKind::File,
            size: 3,
            mtime: Some(UNIX_EPOCH + Duration::from_nanos(5)),
            id: Some("a".into()),
            hash: Some(ourclone_remote::Hash::whirlpool("ab")),
        };
        assert!(unchanged(&known, &e));
        // Issue 8, item 9: with an id, the server's own date is not a change.
        e.mtime = Some(UNIX_EPOCH + Duration::from_secs(300));
        assert!(unchanged(&known, &e));
        let no_id = RemoteState {
            id: None,
            ..known.clone()
        };
        let e2 = Entry {
            id: None,
            hash: None,
            ..e.clone()
        };
        assert!(
            !unchanged(&no_id, &e2),
            "without id or hash the date decides"
        );
        e.size = 4;
        assert!(!unchanged(&known, &e));
        e.size = 3;
        e.id = Some("b".into());
        assert!(!unchanged(&known, &e));
    }
}
