//! folder/ls, folder/mkdir, folder/rm and folder/mv.

use axum::{body::Bytes, extract::State, Json};
use serde::Deserialize;
use serde_json::json;

use super::{admit_listing, capped, file_json, folder_id, parse, ApiResult};
use crate::{app::App, errors::ApiError, state::ROOT};

#[derive(Deserialize, Default)]
#[serde(default)]
struct LsRequest {
    folder_id: i64,
    files: i64,
}

pub async fn ls(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: LsRequest = parse(&body)?;
    let id = folder_id(req.folder_id)?;
    admit_listing(&app, "folder/ls", req.folder_id)?;
    let account = app.account();
    let name = account.folder_name(id)?;
    let subs = capped(&app, account.subfolders(id)?);
    let files = account.files_of(Some(id))?;
    let sub_folders: Vec<_> = subs
        .iter()
        .map(|f| json!({"id": f.id, "name": f.name, "create_date": f.create_date, "pass": 0}))
        .collect();
    let mut out = json!({
        "status": "OK",
        "folder_id": id,
        "name": name,
        "size": null,
        "files": files.len(),
        "sub_folders": sub_folders,
    });
    if req.files == 1 {
        let items: Vec<_> = capped(&app, files).into_iter().map(file_json).collect();
        out["items"] = items.into();
    }
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MkdirRequest {
    name: Option<String>,
    folder_id: i64,
}

pub async fn mkdir(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: MkdirRequest = parse(&body)?;
    let name = req.name.ok_or_else(|| ApiError::missing("name"))?;
    let parent = folder_id(req.folder_id)?;
    let folder = app.account().mkdir(parent, &name)?;
    Ok(Json(
        json!({"status": "OK", "folder_id": folder.id, "name": folder.name}),
    ))
}

#[derive(Deserialize)]
struct RmRequest {
    folder_id: i64,
}

pub async fn rm(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: RmRequest = parse(&body)?;
    app.account().rmdir(folder_id(req.folder_id)?)?;
    Ok(Json(json!({"status": "OK", "message": "Folder removed"})))
}

#[derive(Deserialize)]
struct MvRequest {
    folder_id: i64,
    /// Missing means the root (rclone omits it for 0).
    #[serde(default)]
    destination_folder_id: i64,
    #[serde(default)]
    rename: Option<String>,
}

pub async fn mv(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: MvRequest = parse(&body)?;
    let id = folder_id(req.folder_id)?;
    if id == ROOT {
        return Err(crate::state::StoreError::RootFolder.into());
    }
    let dest = folder_id(req.destination_folder_id)?;
    let rename = req.rename.as_deref().filter(|r| !r.is_empty());
    let (old_name, new_name) = app.account().move_folder(id, dest, rename)?;
    Ok(Json(json!({
        "status": "OK",
        "message": "Folder moved",
        "old_name": old_name,
        "new_name": new_name,
    })))
}
