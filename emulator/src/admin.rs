//! The `/_emulator` control endpoints for tests: stats, stats reset, key revocation, unlock.
//! They are not counted, throttled, delayed or faulted.

use axum::{extract::State, routing::get, routing::post, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/reset-stats", post(reset_stats))
        .route("/_emulator/revoke", post(revoke))
        .route("/_emulator/unlock", post(unlock))
}

async fn stats(State(app): State<App>) -> Json<Value> {
    Json(app.stats.snapshot())
}

async fn reset_stats(State(app): State<App>) -> Json<Value> {
    app.stats.reset();
    Json(json!({"status": "OK"}))
}

#[derive(Deserialize)]
struct RevokeRequest {
    api_key: String,
}

async fn revoke(State(app): State<App>, Json(req): Json<RevokeRequest>) -> Json<Value> {
    let known = app.auth.revoke(&req.api_key);
    Json(json!({"status": "OK", "known": known}))
}

/// Lifts flood locks and forgets rate buckets and listing times.
async fn unlock(State(app): State<App>) -> Json<Value> {
    app.limits.reset();
    Json(json!({"status": "OK"}))
}
