//! file/ls, file/info, file/rm, file/mv, file/cp and file/rename.

use axum::{body::Bytes, extract::State, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{admit_listing, capped, file_id, file_json, folder_id, parse, ApiResult};
use crate::{app::App, errors::ApiError, ids};

#[derive(Deserialize, Default)]
#[serde(default)]
struct LsRequest {
    folder_id: i64,
    sent_before: Option<String>,
    sent_after: Option<String>,
}

pub async fn ls(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: LsRequest = parse(&body)?;
    let folder = match req.folder_id {
        -1 => None,
        raw => Some(folder_id(raw)?),
    };
    admit_listing(&app, "file/ls", req.folder_id)?;
    let account = app.account();
    let files = account.files_of(folder)?;
    let in_window = |date: &str| {
        req.sent_before.as_deref().is_none_or(|b| date < b)
            && req.sent_after.as_deref().is_none_or(|a| date > a)
    };
    let matching = files.into_iter().filter(|f| in_window(&f.date)).collect();
    let items: Vec<Value> = capped(&app, matching).into_iter().map(file_json).collect();
    Ok(Json(
        json!({"status": "OK", "count": items.len(), "items": items}),
    ))
}

#[derive(Deserialize)]
struct InfoRequest {
    url: String,
}

pub async fn info(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: InfoRequest = parse(&body)?;
    let id = file_id(&req.url)?;
    let account = app.account();
    let file = account.file(&id)?;
    let mut out = file_json(file);
    out["folder_id"] = file.folder_id.into();
    out["path"] = account.path_of(file.folder_id).into();
    out["description"] = "".into();
    out["inline"] = 0.into();
    out["no_ssl"] = 0.into();
    out["acl"] = json!({"ip": [], "country": [], "email": [], "premium": 0});
    Ok(Json(out))
}

#[derive(Deserialize)]
struct RmRequest {
    files: Vec<RmEntry>,
}

#[derive(Deserialize)]
struct RmEntry {
    url: String,
}

pub async fn rm(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: RmRequest = parse(&body)?;
    let ids = req
        .files
        .iter()
        .map(|f| file_id(&f.url))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(ApiError::missing("files"));
    }
    let removed = app.account().remove_files(&ids)?;
    Ok(Json(json!({"status": "OK", "removed": removed})))
}

#[derive(Deserialize)]
struct MvRequest {
    urls: Vec<String>,
    destination_folder_id: Option<i64>,
    #[serde(default)]
    rename: Option<String>,
}

/// Moves files. Quirks of the real service: `rename` only with a single URL; a `rename` equal to
/// the current name is refused with #312; a move into the same folder ignores `rename`.
pub async fn mv(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: MvRequest = parse(&body)?;
    let raw_dest = req
        .destination_folder_id
        .ok_or_else(|| ApiError::missing("destination_folder_id"))?;
    let dest = folder_id(raw_dest)?;
    let ids = urls_to_ids(&req.urls)?;
    let rename = single_rename(req.rename.as_deref(), ids.len())?;
    let mut account = app.account();
    let rename = match (rename, ids.first()) {
        (Some(name), Some(id)) => {
            let file = account.file(id)?;
            if file.filename == name {
                return Err(ApiError::not_renamed());
            }
            (file.folder_id != dest).then_some(name)
        }
        _ => None,
    };
    let moved = account.move_files(&ids, dest, rename)?;
    let urls: Vec<String> = ids.iter().map(|id| ids::file_url(id)).collect();
    Ok(Json(json!({"status": "OK", "moved": moved, "urls": urls})))
}

#[derive(Deserialize)]
struct CpRequest {
    urls: Vec<String>,
    #[serde(default)]
    folder_id: i64,
    #[serde(default)]
    rename: Option<String>,
}

pub async fn cp(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: CpRequest = parse(&body)?;
    let dest = folder_id(req.folder_id)?;
    let ids = urls_to_ids(&req.urls)?;
    let rename = single_rename(req.rename.as_deref(), ids.len())?;
    let pairs = app.account().copy_files(&ids, dest, rename)?;
    let urls: Vec<Value> = pairs
        .iter()
        .map(|(from, to)| json!({"from_url": ids::file_url(from), "to_url": ids::file_url(to)}))
        .collect();
    Ok(Json(
        json!({"status": "OK", "copied": urls.len(), "urls": urls}),
    ))
}

#[derive(Deserialize)]
struct RenameRequest {
    urls: Vec<RenameEntry>,
}

#[derive(Deserialize)]
struct RenameEntry {
    url: String,
    filename: String,
}

pub async fn rename(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: RenameRequest = parse(&body)?;
    let renames = req
        .urls
        .iter()
        .map(|e| Ok((file_id(&e.url)?, e.filename.clone())))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let done = app.account().rename_files(&renames)?;
    if done.is_empty() {
        return Err(ApiError::not_renamed());
    }
    let urls: Vec<Value> = done
        .iter()
        .map(|(id, old, new)| json!({"url": ids::file_url(id), "old_filename": old, "new_filename": new}))
        .collect();
    Ok(Json(
        json!({"status": "OK", "renamed": urls.len(), "urls": urls}),
    ))
}

fn urls_to_ids(urls: &[String]) -> Result<Vec<String>, ApiError> {
    if urls.is_empty() {
        return Err(ApiError::missing("urls"));
    }
    urls.iter().map(|u| file_id(u)).collect()
}

/// `rename` is only valid for a single file; an empty one means "no rename".
fn single_rename(rename: Option<&str>, count: usize) -> Result<Option<&str>, ApiError> {
    match rename.filter(|r| !r.is_empty()) {
        Some(_) if count > 1 => Err(ApiError::ko("rename is only allowed with a single URL #27")),
        other => Ok(other),
    }
}
