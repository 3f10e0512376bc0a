//! The upload node: `POST /upload.cgi?id=ID` (multipart `did` + one or more `file[]`) and the
//! upload report `GET /end.pl?xid=ID` (JSON with header `JSON: 1`, an HTML table otherwise).
//! Reports live for `--report-ttl` and may be read any number of times until then.

use axum::{
    extract::{
        multipart::{Field, MultipartRejection},
        Multipart, Query, State,
    },
    http::{header::LOCATION, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};
use tokio::io::AsyncWriteExt;
use whirlpool::{Digest, Whirlpool};

use crate::{
    app::App,
    auth::Caller,
    errors::ApiError,
    html, ids, names,
    state::{NewFile, ROOT},
};

const NO_FILE: &str = "Pas de fichier trouv\u{e9} dans l'envoi";
const CANNOT_WRITE: &str = "Ne peut ouvrir le fichier destination";
const EMPTY_FILE: &str = "Fichier vide / Empty file #614";
const BAD_UPLOAD_ID: &str = "Identifiant d'envoi invalide / Invalid upload id #612";
const NO_REPORT: &str = "Upload report not found or expired #615";

/// One uploaded file as end.pl reports it (`size` is a string, as on the real service).
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    download: String,
    filename: String,
    size: String,
    remove: String,
    whirlpool: String,
}

/// What an upload id led to: the links, or the message of a refused upload.
type Outcome = Result<Vec<Link>, String>;

#[derive(Debug)]
pub struct Reports {
    ttl: Duration,
    map: Mutex<HashMap<String, (Instant, Outcome)>>,
}

impl Reports {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::default(),
        }
    }

    fn put(&self, id: String, outcome: Outcome) {
        let mut map = self.lock();
        map.retain(|_, (created, _)| created.elapsed() < self.ttl);
        map.insert(id, (Instant::now(), outcome));
    }

    fn get(&self, id: &str) -> Option<Outcome> {
        let map = self.lock();
        let (created, outcome) = map.get(id)?;
        (created.elapsed() < self.ttl).then(|| outcome.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Outcome)>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Deserialize)]
pub struct UploadQuery {
    id: Option<String>,
}

pub async fn upload(
    State(app): State<App>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let Some(id) = query.id.filter(|id| ids::is_valid_upload_id(id)) else {
        return Html(html::error_page(BAD_UPLOAD_ID)).into_response();
    };
    let outcome = match multipart {
        Ok(multipart) => receive(&app, &headers, multipart).await,
        Err(_) => Err(NO_FILE.to_string()),
    };
    app.reports.put(id.clone(), outcome.clone());
    match outcome {
        Ok(_) => {
            let location = format!("/end.pl?xid={id}");
            let body = Html(html::moved(&location));
            (StatusCode::FOUND, [(LOCATION, location)], body).into_response()
        }
        Err(message) => Html(html::error_page(&message)).into_response(),
    }
}

/// Deletes the temp files of an upload that were not adopted by the store.
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The parsed form: target folder and the received files.
struct Form {
    did: Option<u64>,
    files: Vec<NewFile>,
}

async fn receive(app: &App, headers: &HeaderMap, mut multipart: Multipart) -> Outcome {
    let mut temps = TempFiles(Vec::new());
    let form = read_form(app, &mut multipart, &mut temps).await?;
    check_files(app, &form.files)?;
    match app.auth.identify(headers) {
        Caller::Customer => store(app, form),
        // Anonymous uploads do not land in the account; their temp files are dropped.
        _ => Ok(form
            .files
            .into_iter()
            .map(|f| link(&ids::file_id(), f.filename, f.size, f.checksum))
            .collect()),
    }
}

async fn read_form(
    app: &App,
    multipart: &mut Multipart,
    temps: &mut TempFiles,
) -> Result<Form, String> {
    let mut form = Form {
        did: None,
        files: Vec::new(),
    };
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|_| NO_FILE.to_string())?
    {
        match field.name() {
            Some("did") => {
                let text = field.text().await.map_err(|_| NO_FILE.to_string())?;
                form.did = Some(text.trim().parse().unwrap_or(ROOT));
            }
            Some("file[]" | "file") => {
                let filename = field.file_name().unwrap_or("file").to_string();
                let temp = app.account().disk().temp_path();
                temps.0.push(temp.clone());
                let (size, checksum) = save_part(app, &mut field, &temp).await?;
                form.files.push(NewFile {
                    temp,
                    filename,
                    size,
                    checksum,
                });
            }
            _ => while let Ok(Some(_)) = field.chunk().await {},
        }
    }
    Ok(form)
}

/// Streams one file part to `path`, hashing it on the way; returns (size, Whirlpool hex).
async fn save_part(app: &App, field: &mut Field<'_>, path: &Path) -> Result<(u64, String), String> {
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|_| CANNOT_WRITE.to_string())?;
    let mut hasher = Whirlpool::new();
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|_| NO_FILE.to_string())? {
        hasher.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|_| CANNOT_WRITE.to_string())?;
        size += chunk.len() as u64;
        app.stats.bytes_in(chunk.len() as u64);
    }
    out.flush().await.map_err(|_| CANNOT_WRITE.to_string())?;
    Ok((size, hex::encode(hasher.finalize())))
}

fn check_files(app: &App, files: &[NewFile]) -> Result<(), String> {
    if files.is_empty() {
        return Err(NO_FILE.to_string());
    }
    if files.iter().any(|f| !names::is_acceptable(&f.filename)) {
        return Err(names::INVALID_NAME.to_string());
    }
    if !app.cfg.allow_empty_files && files.iter().any(|f| f.size == 0) {
        return Err(EMPTY_FILE.to_string());
    }
    Ok(())
}

fn store(app: &App, form: Form) -> Outcome {
    let added = app
        .account()
        .add_files(form.did.unwrap_or(ROOT), form.files)
        .map_err(|e| {
            tracing::error!("storing an upload failed: {e}");
            CANNOT_WRITE.to_string()
        })?;
    app.stats.files_uploaded(added.len() as u64);
    Ok(added
        .into_iter()
        .map(|m| link(&m.id, m.filename, m.size, m.checksum))
        .collect())
}

fn link(id: &str, filename: String, size: u64, whirlpool: String) -> Link {
    Link {
        download: ids::file_url(id),
        filename,
        size: size.to_string(),
        remove: format!("https://1fichier.com/remove/{id}/{}", ids::removal_code()),
        whirlpool,
    }
}

#[derive(Deserialize)]
pub struct EndQuery {
    xid: Option<String>,
}

/// The upload report; `JSON: 1` (or `2`, pretty) selects JSON. Reading does not consume it.
pub async fn end(
    State(app): State<App>,
    Query(query): Query<EndQuery>,
    headers: HeaderMap,
) -> Response {
    let mode = headers
        .get("JSON")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let outcome = query.xid.and_then(|xid| app.reports.get(&xid));
    match (mode, outcome) {
        (Some(mode), Some(Ok(links))) => {
            let body = json!({"incoming": 0, "links": links});
            if mode == "2" {
                let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
                ([("content-type", "application/json")], pretty).into_response()
            } else {
                Json(body).into_response()
            }
        }
        (Some(_), Some(Err(message))) => ApiError::ko(message).into_response(),
        (Some(_), None) => ApiError::ko(NO_REPORT).into_response(),
        (None, Some(Ok(links))) => Html(report_html(&links)).into_response(),
        (None, Some(Err(message))) => Html(html::error_page(&message)).into_response(),
        (None, None) => Html(html::error_page(NO_REPORT)).into_response(),
    }
}

fn report_html(links: &[Link]) -> String {
    let rows: Vec<html::ReportRow<'_>> = links
        .iter()
        .map(|l| html::ReportRow {
            filename: &l.filename,
            size: &l.size,
            download: &l.download,
            remove: &l.remove,
        })
        .collect();
    html::report_table(&rows)
}
