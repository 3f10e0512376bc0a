//! user/info, upload/get_upload_server and download/get_token.

use axum::{body::Bytes, extract::State, Json};
use serde::Deserialize;
use serde_json::json;

use super::{file_id, parse, ApiResult};
use crate::{app::App, clock, ids};

/// Account info with the field types rclone decodes (flags as strings, quotas as integers).
pub async fn user_info(State(app): State<App>) -> ApiResult {
    let used = app.account().used_bytes();
    let quota = app.cfg.quota;
    Ok(Json(json!({
        "status": "OK",
        "email": "customer@emulator.invalid",
        "offer": "1",
        "subscription_end": "2099-12-31 23:59:59",
        "2fa": "0",
        "mail_rm": "0",
        "ftp_mode": "0",
        "ftp_did": 0,
        "ftp_report": "0",
        "ru_report": "0",
        "default_domain": 0,
        "page_limit": 1000,
        "default_port": "0",
        "default_port_files": "0",
        "cdn": "0",
        "use_cdn": "0",
        "download_menu": "0",
        "stats_date": clock::now(app.cfg.clock_skew),
        "default_quota": quota,
        "default_cold_storage_quota": quota,
        "hot_storage": 0,
        "available_storage": quota,
        "cold_storage": used,
        "allowed_cold_storage": quota,
        "available_cold_storage": quota,
        "overquota": 0,
        "upload_forbidden": "0",
    })))
}

/// A fresh upload node and id. The node is this server (`--public-host`).
pub async fn upload_server(State(app): State<App>) -> ApiResult {
    Ok(Json(
        json!({"url": app.public_host, "id": ids::upload_id()}),
    ))
}

#[derive(Deserialize)]
struct TokenRequest {
    url: String,
    #[serde(default)]
    single: i64,
    #[serde(default)]
    inline: i64,
}

pub async fn get_token(State(app): State<App>, body: Bytes) -> ApiResult {
    let req: TokenRequest = parse(&body)?;
    let id = file_id(&req.url)?;
    app.account().file(&id)?;
    let token = app.tokens.issue(&id, req.single == 1, req.inline == 1);
    let url = format!("{}/p{token}", app.public_base());
    Ok(Json(json!({"status": "OK", "url": url})))
}
