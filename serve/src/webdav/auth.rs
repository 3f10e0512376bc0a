//! HTTP Basic authentication for `serve webdav`: one user and password, compared in constant
//! time. The password is never logged (it has no Debug).

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// The one user allowed in.
pub struct Credentials {
    user: String,
    password: String,
}

impl Credentials {
    pub fn new(user: String, password: String) -> Self {
        Self { user, password }
    }

    /// Whether the request's `Authorization: Basic` header names this user and password.
    pub(super) fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
        else {
            return false;
        };
        let expected = format!("{}:{}", self.user, self.password);
        same_bytes(&given, expected.as_bytes())
    }
}

/// Equality whose time does not depend on where the inputs differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"ourclone-fs\"")],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        );
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn only_the_right_user_and_password_are_admitted() {
        let c = Credentials::new("anna".into(), "s3cret:x".into());
        assert!(c.admits(&basic("anna:s3cret:x")));
        assert!(!c.admits(&basic("anna:s3cret")));
        assert!(!c.admits(&basic("anne:s3cret:x")));
        assert!(!c.admits(&HeaderMap::new()));
        let mut garbage = HeaderMap::new();
        garbage.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(!c.admits(&garbage));
    }
}
