//! Random identifiers handed out by the service: file URLs, upload ids, download tokens, removal codes.

use rand::Rng;

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const DIGITS: &[u8] = b"0123456789";

/// Host part of every public file URL.
pub const FILE_URL_PREFIX: &str = "https://1fichier.com/?";

fn pick(charset: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| charset[rng.random_range(0..charset.len())] as char)
        .collect()
}

/// The id behind `https://1fichier.com/?<id>`: 20 lowercase alphanumerics.
pub fn file_id() -> String {
    pick(LOWER_ALNUM, 20)
}

/// Upload id as returned by get_upload_server: 10 alphanumerics, mixed case.
pub fn upload_id() -> String {
    pick(ALNUM, 10)
}

/// Opaque part of a download-token URL (`/p<token>`).
pub fn download_token() -> String {
    let mut token = pick(&DIGITS[1..], 1);
    token.push_str(&pick(DIGITS, 11));
    token
}

/// Secret part of a removal link.
pub fn removal_code() -> String {
    pick(ALNUM, 24)
}

/// The public URL of a file id.
pub fn file_url(id: &str) -> String {
    format!("{FILE_URL_PREFIX}{id}")
}

/// The file id inside a file URL (any host, as alias domains exist); `None` when malformed.
pub fn id_from_url(url: &str) -> Option<&str> {
    let (_, query) = url.rsplit_once('?')?;
    let id = query.split('&').next()?;
    let valid = (5..=20).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    valid.then_some(id)
}

/// Whether a client-supplied upload id looks like one get_upload_server hands out.
pub fn is_valid_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 10 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_round_trip_through_urls() {
        let id = file_id();
        assert_eq!(id.len(), 20);
        assert_eq!(id_from_url(&file_url(&id)), Some(id.as_str()));
        assert_eq!(
            id_from_url("https://alterupload.com/?abcde12345&af=1"),
            Some("abcde12345")
        );
        assert_eq!(id_from_url("https://1fichier.com/"), None);
        assert_eq!(id_from_url("https://1fichier.com/?ABC"), None);
    }

    #[test]
    fn upload_ids_are_short_alnum() {
        assert!(is_valid_upload_id(&upload_id()));
        assert!(!is_valid_upload_id("abc/def"));
        assert!(!is_valid_upload_id("abcdefghijk"));
    }
}
