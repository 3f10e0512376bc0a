//! Wire types of the 1Fichier API v1 answers we read, and the conversions from them to
//! [`Entry`]. Owns field names, lenient number parsing and date parsing; must not do I/O or
//! decide policy. Requests are built with `serde_json::json!` where they are sent.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::names;
use crate::{Entry, EntryKind, Hash};

/// A size or counter that the server sends as a number or a numeric string.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(lenient_opt_u64(d)?.unwrap_or(0))
}

fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(match value {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    })
}

/// `folder/ls.cgi`.
#[derive(Debug, Deserialize)]
pub struct FolderListing {
    #[serde(default)]
    pub sub_folders: Option<Vec<SubFolder>>,
    /// This folder's files, present when asked with `files: 1`.
    #[serde(default)]
    pub items: Option<Vec<FileItem>>,
    /// How many files the folder holds, when the server says.
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub files: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct SubFolder {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub create_date: Option<String>,
}

/// One file in `file/ls.cgi` / `folder/ls.cgi` items, and the `file/info.cgi` answer.
#[derive(Debug, Deserialize)]
pub struct FileItem {
    pub url: String,
    pub filename: String,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub size: u64,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub checksum: Option<String>,
}

/// `file/ls.cgi`.
#[derive(Debug, Deserialize)]
pub struct FileListing {
    #[serde(default)]
    pub items: Option<Vec<FileItem>>,
}

/// `folder/mkdir.cgi`.
#[derive(Debug, Deserialize)]
pub struct MadeFolder {
    #[serde(deserialize_with = "lenient_u64")]
    pub folder_id: u64,
}

/// `file/mv.cgi`.
#[derive(Debug, Deserialize)]
pub struct MovedFiles {
    #[serde(default)]
    pub urls: Vec<String>,
}

/// `file/cp.cgi`.
#[derive(Debug, Deserialize)]
pub struct CopiedFiles {
    #[serde(default)]
    pub urls: Vec<CopiedUrl>,
}

#[derive(Debug, Deserialize)]
pub struct CopiedUrl {
    pub to_url: String,
}

/// Any answer whose body we do not need beyond its status.
#[derive(Debug, Deserialize)]
pub struct Ack {}

/// `download/get_token.cgi`.
#[derive(Debug, Deserialize)]
pub struct DownloadToken {
    pub url: String,
}

/// `upload/get_upload_server.cgi`.
#[derive(Debug, Deserialize)]
pub struct UploadServer {
    pub url: String,
    pub id: String,
}

/// `end.pl` with `JSON: 1`.
#[derive(Debug, Deserialize)]
pub struct UploadReport {
    #[serde(default)]
    pub links: Vec<UploadedLink>,
}

#[derive(Debug, Deserialize)]
pub struct UploadedLink {
    pub download: String,
    #[serde(default)]
    pub filename: String,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub size: u64,
    #[serde(default)]
    pub whirlpool: Option<String>,
}

/// `user/info.cgi` (only what `about` needs).
#[derive(Debug, Deserialize)]
pub struct UserInfo {
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub cold_storage: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub available_cold_storage: Option<u64>,
}

/// Parses `YYYY-MM-DD HH:MM:SS` as UTC.
pub fn parse_date(s: &str) -> Option<SystemTime> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next().flatten().unwrap_or(0));
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y, m, day);
    let secs = u64::try_from(days).ok()? * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl FileItem {
    /// The entry the user sees (placeholders of empty files shown as size 0).
    pub fn into_entry(self) -> Entry {
        let (name, empty) = names::decode_file_name(&self.filename);
        Entry {
            name,
            kind: EntryKind::File,
            size: if empty { 0 } else { self.size },
            mtime: self.date.as_deref().and_then(parse_date),
            id: Some(names::file_id(&self.url, empty)),
            hash: if empty {
                Some(Hash::whirlpool(super::checksum::whirlpool_hex(b"")))
            } else {
                self.checksum.map(Hash::whirlpool)
            },
        }
    }
}

impl SubFolder {
    pub fn into_entry(self) -> Entry {
        Entry {
            name: names::showable(&names::decode(&self.name)),
            kind: EntryKind::Dir,
            size: 0,
            mtime: self.create_date.as_deref().and_then(parse_date),
            id: Some(self.id.to_string()),
            hash: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        let t = parse_date("2021-06-22 14:57:25").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_624_373_845);
        assert_eq!(
            parse_date("1970-01-01 00:00:00"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert!(parse_date("yesterday").is_none());
        assert!(parse_date("2021-13-01 00:00:00").is_none());
    }

    #[test]
    fn numbers_may_be_strings() {
        let info: UserInfo =
            serde_json::from_str(r#"{"cold_storage":"1024","available_cold_storage":5000}"#)
                .unwrap();
        assert_eq!(info.cold_storage, Some(1024));
        assert_eq!(info.available_cold_storage, Some(5000));
        let link: UploadedLink = serde_json::from_str(
            r#"{"download":"https://1fichier.com/?x","filename":"a","size":"14"}"#,
        )
        .unwrap();
        assert_eq!(link.size, 14);
    }

    #[test]
    fn listing_items_become_entries() {
        let item: FileItem = serde_json::from_str(
            r#"{"url":"https://1fichier.com/?abc","filename":"a＜b.txt","size":12,"date":"2021-06-22 14:57:25","checksum":"AB"}"#,
        )
        .unwrap();
        let entry = item.into_entry();
        assert_eq!(entry.name, "a<b.txt");
        assert_eq!(entry.size, 12);
        assert_eq!(entry.hash, Some(Hash::whirlpool("ab")));
        assert_eq!(entry.id.as_deref(), Some("https://1fichier.com/?abc"));
    }

    #[test]
    fn empty_placeholders_show_as_empty_files() {
        let item: FileItem = serde_json::from_str(
            r#"{"url":"https://1fichier.com/?e","filename":"e.txt␀empty","size":1}"#,
        )
        .unwrap();
        let entry = item.into_entry();
        assert_eq!((entry.name.as_str(), entry.size), ("e.txt", 0));
        assert_eq!(
            entry.id.as_deref(),
            Some("https://1fichier.com/?e#ourclone-empty")
        );
    }
}
