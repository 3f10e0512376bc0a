//! Names as 1Fichier stores them versus names as the user sees them. Owns the reversible
//! encoding of characters 1Fichier rejects, the empty-file name marker and the suffix that
//! keeps duplicate names apart. Must not do I/O.
//!
//! Encoding (compatible with rclone's default `--fichier-encoding` for everything rclone
//! encodes): `\ < > " $ ` ' /` become their full-width look-alikes (`＼ ＜ ＞ ＂ ＄ ｀ ＇ ／`),
//! control characters U+0000–U+001F become U+2400–U+241F, DEL becomes `␡`, a leading or
//! trailing space becomes `␠`. Beyond rclone, the acute accent `´` (U+00B4, reported refused)
//! becomes `ˊ` (U+02CA). A character of the user's name that is itself one of those
//! look-alikes is escaped with `‛` (U+201B). A literal `‛` is doubled when it would otherwise
//! be read as an escape (when the next stored character is a look-alike or `‛`), so decoding
//! is exact for every name.
//!
//! Empty files: see [`EMPTY_NAME_MARKER`].

use std::collections::HashMap;

use crate::{Entry, EntryKind};

/// The escape that marks a look-alike as literal.
const QUOTE: char = '\u{201B}';

/// Suffix, in user-name space, of the one-byte placeholder that stands for an empty file
/// (1Fichier cannot store 0-byte files). It starts with NUL, which no real file name can hold,
/// so after encoding (`␀empty`) it can never be produced by a user's name: a listing entry whose
/// decoded name ends with it is shown as an empty file of the name before the marker.
pub const EMPTY_NAME_MARKER: &str = "\0empty";

/// Suffix added to a placeholder's file URL in [`Entry::id`], so reads and moves know it
/// stands for an empty file without looking it up again.
pub const EMPTY_ID_SUFFIX: &str = "#ourclone-empty";

/// The content uploaded for an empty file's placeholder.
pub const EMPTY_PLACEHOLDER_CONTENT: &[u8] = b"\0";

/// The stored look-alike of a character 1Fichier rejects anywhere in a name.
fn replacement(c: char) -> Option<char> {
    match c {
        '\\' | '<' | '>' | '"' | '$' | '`' | '\'' | '/' => char::from_u32(c as u32 + 0xFEE0),
        '\0'..='\x1f' => char::from_u32(0x2400 + c as u32),
        '\x7f' => Some('\u{2421}'),
        '\u{b4}' => Some('\u{2ca}'),
        _ => None,
    }
}

/// The character a stored look-alike stands for.
fn original(stored: char) -> Option<char> {
    match stored {
        '＼' | '＜' | '＞' | '＂' | '＄' | '｀' | '＇' | '／' => {
            char::from_u32(stored as u32 - 0xFEE0)
        }
        '\u{2400}'..='\u{241f}' => char::from_u32(stored as u32 - 0x2400),
        '\u{2421}' => Some('\x7f'),
        '\u{2420}' => Some(' '),
        '\u{2ca}' => Some('\u{b4}'),
        _ => None,
    }
}

fn is_lookalike(c: char) -> bool {
    original(c).is_some()
}

/// How one character of a user name is stored.
enum Stored {
    Plain(char),
    Replaced(char),
    Escaped(char),
}

impl Stored {
    /// True when the stored form starts with a character an escape would apply to.
    fn starts_escapable(&self) -> bool {
        match self {
            Stored::Plain(c) => *c == QUOTE,
            Stored::Replaced(_) | Stored::Escaped(_) => true,
        }
    }
}

/// Encodes a user name into what 1Fichier may store.
pub fn encode(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let last = chars.len().saturating_sub(1);
    let stored: Vec<Stored> = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if c == ' ' && (i == 0 || i == last) {
                Stored::Replaced('\u{2420}')
            } else if let Some(r) = replacement(c) {
                Stored::Replaced(r)
            } else if is_lookalike(c) {
                Stored::Escaped(c)
            } else {
                Stored::Plain(c)
            }
        })
        .collect();
    let mut out = String::with_capacity(name.len());
    for (i, s) in stored.iter().enumerate() {
        match s {
            Stored::Plain(QUOTE) => {
                out.push(QUOTE);
                if stored.get(i + 1).is_some_and(Stored::starts_escapable) {
                    out.push(QUOTE);
                }
            }
            Stored::Plain(c) | Stored::Replaced(c) => out.push(*c),
            Stored::Escaped(c) => {
                out.push(QUOTE);
                out.push(*c);
            }
        }
    }
    out
}

/// Decodes a stored name back to the user's name.
pub fn decode(stored: &str) -> String {
    let chars: Vec<char> = stored.chars().collect();
    let mut out = String::with_capacity(stored.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == QUOTE {
            match chars.get(i + 1) {
                Some(&next) if next == QUOTE || is_lookalike(next) => {
                    out.push(next);
                    i += 2;
                }
                _ => {
                    out.push(QUOTE);
                    i += 1;
                }
            }
            continue;
        }
        out.push(original(c).unwrap_or(c));
        i += 1;
    }
    out
}

/// The stored name of a file: encoded, with the empty-file marker when `empty`.
pub fn encode_file_name(name: &str, empty: bool) -> String {
    if empty {
        encode(&format!("{name}{EMPTY_NAME_MARKER}"))
    } else {
        encode(name)
    }
}

/// The user's name of a stored file and whether it is an empty-file placeholder.
pub fn decode_file_name(stored: &str) -> (String, bool) {
    let decoded = decode(stored);
    match decoded.strip_suffix(EMPTY_NAME_MARKER) {
        Some(name) if !name.is_empty() => (showable(name), true),
        _ => (showable(&decoded), false),
    }
}

/// A decoded name as a local name can hold it: a stored '／' or '␀' that was not ours (typed in
/// the web UI, say) decodes to a path separator or NUL, which no local name may hold (the
/// kernel refuses a whole listing over one); those show as the look-alikes they were stored as.
pub fn showable(decoded: &str) -> String {
    decoded.replace('/', "\u{ff0f}").replace('\0', "\u{2400}")
}

/// A file id with the empty-placeholder flag, as handed out in [`Entry::id`].
pub fn file_id(url: &str, empty: bool) -> String {
    if empty {
        format!("{url}{EMPTY_ID_SUFFIX}")
    } else {
        url.to_string()
    }
}

/// The file URL inside an [`Entry::id`] and whether it stands for an empty file.
pub fn split_file_id(id: &str) -> (&str, bool) {
    match id.strip_suffix(EMPTY_ID_SUFFIX) {
        Some(url) => (url, true),
        None => (id, false),
    }
}

/// True when an [`Entry::id`] names a file (a URL) rather than a folder (a number).
pub fn is_file_id(id: &str) -> bool {
    id.contains("://")
}

/// The short unique part of an id: a file URL's `?<id>` (or last segment), or a folder number.
fn short_id(id: &str) -> &str {
    let (url, _) = split_file_id(id);
    url.rsplit(['?', '/', '='])
        .find(|s| !s.is_empty())
        .unwrap_or(url)
}

/// `name` with a duplicate marker before its extension: `a.txt` → `a (dup-<id>).txt`.
pub fn duplicate_name(name: &str, id: &str) -> String {
    let tag = format!(" (dup-{})", short_id(id));
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}{tag}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}{tag}"),
    }
}

/// Gives every entry of one folder a distinct name. Among entries sharing a name, a folder
/// keeps it, else the oldest upload (then the smallest id); the others get
/// [`duplicate_name`], which depends only on their own id, so it is stable across listings.
pub fn disambiguate(mut entries: Vec<Entry>) -> Vec<Entry> {
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        groups.entry(e.name.clone()).or_default().push(i);
    }
    for indices in groups.values_mut().filter(|g| g.len() > 1) {
        indices.sort_by(|&a, &b| {
            let (ea, eb) = (&entries[a], &entries[b]);
            let dir_first = |e: &Entry| if e.kind == EntryKind::Dir { 0 } else { 1 };
            (dir_first(ea), ea.mtime, &ea.id).cmp(&(dir_first(eb), eb.mtime, &eb.id))
        });
        for &i in &indices[1..] {
            let id = entries[i].id.clone().unwrap_or_default();
            entries[i].name = duplicate_name(&entries[i].name, &id);
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn forbidden_characters_become_lookalikes() {
        assert_eq!(encode("a<b>c\"d$e`f'g\\h/i"), "a＜b＞c＂d＄e｀f＇g＼h／i");
        assert_eq!(encode(" lead and trail "), "␠lead and trail␠");
        assert_eq!(encode("tab\there\x7f"), "tab␉here␡");
        assert_eq!(encode("plain name.txt"), "plain name.txt");
        assert_eq!(encode("caf\u{b4}"), "caf\u{2ca}");
    }

    #[test]
    fn literal_lookalikes_are_escaped() {
        assert_eq!(encode("a＜b"), "a‛＜b");
        assert_eq!(decode("a‛＜b"), "a＜b");
        assert_eq!(decode("a＜b"), "a<b");
        assert_eq!(encode("it‛s"), "it‛s");
        assert_eq!(decode("it‛s"), "it‛s");
    }

    #[test]
    fn round_trip_is_exact_for_tricky_names() {
        let alphabet = [
            ' ', 'a', '.', '<', '＜', '‛', '␠', '\u{1}', '␁', '/', '／', '\'', '\u{b4}', '\u{2ca}',
        ];
        let mut names = Vec::new();
        for &a in &alphabet {
            names.push(a.to_string());
            for &b in &alphabet {
                names.push(format!("{a}{b}"));
                for &c in &alphabet {
                    names.push(format!("{a}{b}{c}"));
                }
            }
        }
        for name in names {
            let stored = encode(&name);
            assert!(
                !stored.starts_with(' ') && !stored.ends_with(' '),
                "{name:?} -> {stored:?}"
            );
            assert!(
                !stored.chars().any(|c| replacement(c).is_some()),
                "{name:?} -> {stored:?}"
            );
            assert_eq!(decode(&stored), name, "stored as {stored:?}");
        }
    }

    #[test]
    fn empty_marker_round_trips_and_cannot_be_forged() {
        let stored = encode_file_name("notes.txt", true);
        assert_eq!(stored, "notes.txt␀empty");
        assert_eq!(decode_file_name(&stored), ("notes.txt".to_string(), true));
        // A user who names a file with a literal ␀ gets it escaped, not taken as a marker.
        let forged = encode_file_name("notes.txt␀empty", false);
        assert_eq!(
            decode_file_name(&forged),
            ("notes.txt␀empty".to_string(), false)
        );
        // Trailing space and quote before the marker survive.
        for name in ["a ", "a‛", " "] {
            assert_eq!(
                decode_file_name(&encode_file_name(name, true)),
                (name.to_string(), true)
            );
        }
    }

    #[test]
    fn file_ids_carry_the_empty_flag() {
        let url = "https://1fichier.com/?abc123";
        assert_eq!(split_file_id(&file_id(url, true)), (url, true));
        assert_eq!(split_file_id(&file_id(url, false)), (url, false));
        assert!(is_file_id(url));
        assert!(!is_file_id("42"));
    }

    fn file(name: &str, id: &str, age: u64) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::File,
            size: 1,
            mtime: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1000 - age)),
            id: Some(id.into()),
            hash: None,
        }
    }

    #[test]
    fn duplicates_get_stable_distinct_names() {
        let entries = vec![
            file("a.txt", "https://1fichier.com/?newer", 1),
            file("a.txt", "https://1fichier.com/?older", 5),
            file("b", "https://1fichier.com/?b1", 1),
            file("b", "https://1fichier.com/?b2", 1),
        ];
        let mut names: Vec<String> = disambiguate(entries).into_iter().map(|e| e.name).collect();
        names.sort();
        assert_eq!(names, ["a (dup-newer).txt", "a.txt", "b", "b (dup-b2)"]);
    }

    #[test]
    fn folders_keep_the_name_over_files() {
        let mut dir = file("x", "17", 0);
        dir.kind = EntryKind::Dir;
        let out = disambiguate(vec![file("x", "https://1fichier.com/?f", 9), dir]);
        assert_eq!(out[0].name, "x (dup-f)");
        assert_eq!(out[1].name, "x");
    }
}
