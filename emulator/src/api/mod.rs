//! The /v1 JSON API: routes and the helpers its handlers share (body parsing, JSON shapes).
//! Authentication, content type and flood limits are checked before, in `gate`.

mod account;
mod files;
mod folders;

use axum::{body::Bytes, routing::get, routing::post, Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::{app::App, errors::ApiError, ids, state::FileMeta};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/folder/ls.cgi", post(folders::ls))
        .route("/v1/folder/mkdir.cgi", post(folders::mkdir))
        .route("/v1/folder/rm.cgi", post(folders::rm))
        .route("/v1/folder/mv.cgi", post(folders::mv))
        .route("/v1/file/ls.cgi", post(files::ls))
        .route("/v1/file/info.cgi", post(files::info))
        .route("/v1/file/rm.cgi", post(files::rm))
        .route("/v1/file/mv.cgi", post(files::mv))
        .route("/v1/file/cp.cgi", post(files::cp))
        .route("/v1/file/rename.cgi", post(files::rename))
        .route("/v1/download/get_token.cgi", post(account::get_token))
        .route("/v1/user/info.cgi", post(account::user_info))
        .route(
            "/v1/upload/get_upload_server.cgi",
            get(account::upload_server).post(account::upload_server),
        )
}

pub type ApiResult = Result<Json<Value>, ApiError>;

/// Decodes a request body; an empty body counts as `{}`.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let text = std::str::from_utf8(body).map_err(ApiError::bad_json)?;
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_json::from_str(text).map_err(ApiError::bad_json)
}

/// The file id of a file URL; malformed URLs are unknown resources.
fn file_id(url: &str) -> Result<String, ApiError> {
    ids::id_from_url(url)
        .map(str::to_string)
        .ok_or_else(ApiError::not_found)
}

/// A folder id from a request (negative ids never exist).
fn folder_id(raw: i64) -> Result<u64, ApiError> {
    u64::try_from(raw).map_err(|_| ApiError::not_found())
}

/// A file as file/ls lists it.
fn file_json(file: &FileMeta) -> Value {
    json!({
        "url": ids::file_url(&file.id),
        "filename": file.filename,
        "size": file.size,
        "date": file.date,
        "checksum": file.checksum,
        "content-type": file.content_type,
        "pass": 0,
        "acl": 0,
        "cdn": 0,
    })
}

/// Refuses a listing of the same folder sooner than `--list-interval`.
fn admit_listing(app: &App, endpoint: &'static str, folder: i64) -> Result<(), ApiError> {
    if app.limits.admit_listing(endpoint, folder) {
        Ok(())
    } else {
        app.stats.list_violation();
        Err(ApiError::flood())
    }
}

/// Applies `--list-max` to a listing.
fn capped<T>(app: &App, mut items: Vec<T>) -> Vec<T> {
    if app.cfg.list_max > 0 {
        items.truncate(app.cfg.list_max);
    }
    items
}
