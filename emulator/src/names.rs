//! Which file and folder names the service accepts, and the content type it derives from a name.

/// Characters 1Fichier is reported to reject or mangle (API notes §7): quotes, angle brackets,
/// dollar, slash, backslash, backtick and the acute accent.
const FORBIDDEN: &[char] = &['"', '\'', '<', '>', '$', '/', '\\', '`', '\u{b4}'];

/// Why a name was refused; the message is what the API answers (the `#` numbers are ours).
pub const INVALID_NAME: &str = "Invalid name: forbidden characters #613";

/// Whether a file or folder name may be stored as given.
pub fn is_acceptable(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| FORBIDDEN.contains(&c) || c.is_control())
}

/// Content type reported in listings, guessed from the extension like a web server would.
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" | "md" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "7z" => "application/x-7z-compressed",
        "rar" => "application/x-rar-compressed",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "mp4" | "m4v" => "video/mp4",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        "iso" => "application/x-iso9660-image",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_reserved_characters_and_edge_spaces() {
        for bad in [
            "a\"b",
            "it's",
            "<x>",
            "$HOME",
            "a/b",
            "a\\b",
            "`x`",
            "caf\u{b4}",
            " lead",
            "trail ",
            "",
            "..",
            "tab\t",
        ] {
            assert!(!is_acceptable(bad), "{bad:?} should be refused");
        }
        for good in ["report.txt", "ｆｕｌｌ＂width", "a b", "été.mp3", ".hidden"] {
            assert!(is_acceptable(good), "{good:?} should be accepted");
        }
    }

    #[test]
    fn guesses_content_types() {
        assert_eq!(content_type("a.TXT"), "text/plain");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
