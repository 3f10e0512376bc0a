//! The middleware every service request passes: counts it, adds latency, injects faults and,
//! for /v1 calls, applies the flood limits, the API-key check and the JSON content-type check.

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header::CONTENT_TYPE, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::{net::IpAddr, net::SocketAddr, time::Duration};

use crate::{
    app::App,
    auth::{self, Caller},
    errors::ApiError,
    stats,
};

pub async fn gate(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let endpoint = stats::endpoint_of(path);
    let is_api = stats::is_api_path(path);
    if let Some(name) = endpoint {
        app.stats.call(name);
        if is_api {
            app.stats.api_call();
        }
    }
    if app.cfg.latency > 0 {
        tokio::time::sleep(Duration::from_millis(app.cfg.latency)).await;
    }
    if let Some(fault) = endpoint.and_then(|name| app.limits.pick_fault(name)) {
        app.stats.fault();
        return fault.into_response();
    }
    if is_api {
        if let Err(err) = check_api_call(&app, peer.ip(), &req, endpoint) {
            return err.into_response();
        }
    }
    next.run(req).await
}

fn check_api_call(
    app: &App,
    ip: IpAddr,
    req: &Request,
    endpoint: Option<&str>,
) -> Result<(), ApiError> {
    let headers = req.headers();
    if !app.limits.admit_api(ip, auth::bearer(headers)) {
        app.stats.throttled();
        return Err(ApiError::flood());
    }
    if endpoint != Some("get_upload_server") {
        match app.auth.identify(headers) {
            Caller::Customer => {}
            Caller::NonCustomer => return Err(ApiError::not_customer()),
            Caller::Anonymous => return Err(ApiError::not_authenticated()),
        }
    }
    if req.method() == Method::POST && !is_json(headers) {
        return Err(ApiError::content_type_not_json());
    }
    Ok(())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}
