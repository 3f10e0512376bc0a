//! The HTML pages the upload node and download host answer with (the service's non-JSON side).

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>{body}</body></html>\n",
        escape(title)
    )
}

/// An error page with the message in the first `div.bloc2`, as the upload node renders failures.
pub fn error_page(message: &str) -> String {
    page(
        "1fichier.com",
        &format!("<div class=\"bloc2\">{}</div>", escape(message)),
    )
}

/// Body of the 302 answer to an upload.
pub fn moved(location: &str) -> String {
    page(
        "Moved",
        &format!(
            "<h1>Moved ! Temporary Redirect</h1><a href=\"{0}\">{0}</a>",
            escape(location)
        ),
    )
}

/// What end.pl shows while the upload is still being processed.
pub fn please_wait() -> String {
    page(
        "1fichier.com",
        "<div class=\"bloc2\">Veuillez patienter / Please wait</div>",
    )
}

/// What an expired, used or unknown download token shows (with HTTP 200, as the real host does).
pub fn token_expired() -> String {
    page(
        "1fichier.com",
        "<div class=\"bloc2\">Lien expir\u{e9} / This download link has expired or is invalid. \
         Please generate a new one.</div>",
    )
}

/// One row of the end.pl HTML report.
pub struct ReportRow<'a> {
    pub filename: &'a str,
    pub size: &'a str,
    pub download: &'a str,
    pub remove: &'a str,
}

/// The end.pl report as a browser sees it (no `JSON` header).
pub fn report_table(rows: &[ReportRow<'_>]) -> String {
    let mut body = String::from(
        "<table class=\"premium\"><tr><th>File name</th><th>Size</th>\
         <th>Download link</th><th>Removal link</th></tr>",
    );
    for row in rows {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><a href=\"{2}\">{2}</a></td><td><a href=\"{3}\">{3}</a></td></tr>",
            escape(row.filename),
            escape(row.size),
            escape(row.download),
            escape(row.remove),
        ));
    }
    body.push_str("</table><p>Within some minutes this page will not be accessible.</p>");
    page("1fichier.com: Upload done", &body)
}
