//! Authentication, content type, flood limits, listing interval and fault injection.

mod common;

use common::{Emulator, KEY};
use serde_json::json;
use std::time::Duration;

const FLOOD: &str = "Flood detected: IP Locked #374";

#[tokio::test]
async fn bad_missing_and_revoked_keys_are_401_247() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &["--api-key", "second"]);
    let expected = json!({"status": "KO", "message": "Not authenticated #247"});
    for key in [None, Some("wrong")] {
        let (status, body) = emu.call_as(key, "folder/ls", json!({"folder_id": 0})).await;
        assert_eq!((status.as_u16(), &body), (401, &expected), "key {key:?}");
    }
    emu.ok("folder/ls", json!({"folder_id": 0})).await;
    let revoke = emu
        .http
        .post(emu.url("/_emulator/revoke"))
        .json(&json!({"api_key": KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let (status, body) = emu.call("folder/ls", json!({"folder_id": 0})).await;
    assert_eq!((status.as_u16(), body), (401, expected));
    let (status, _) = emu
        .call_as(Some("second"), "folder/ls", json!({"folder_id": 0}))
        .await;
    assert_eq!(status, 200, "other keys keep working");
}

#[tokio::test]
async fn free_account_keys_get_200() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &["--non-customer-key", "free"]);
    let (status, body) = emu.call_as(Some("free"), "user/info", json!({})).await;
    assert_eq!(status, 403);
    assert_eq!(body["message"], "Must be a customer (Premium, Access) #200");
}

#[tokio::test]
async fn get_upload_server_needs_no_key_and_accepts_post() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let (status, body) = emu
        .call_as(None, "upload/get_upload_server", json!({"pretty": 1}))
        .await;
    assert_eq!(status, 200);
    assert!(body["id"].is_string() && body["url"].is_string());
}

#[tokio::test]
async fn posts_without_json_content_type_get_24() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let resp = emu
        .http
        .post(emu.url("/v1/folder/ls.cgi"))
        .bearer_auth(KEY)
        .body(r#"{"folder_id":0}"#)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "KO", "message": "Content-Type not JSON #24"})
    );
}

#[tokio::test]
async fn exceeding_the_rate_locks_all_api_calls() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &["--rate-limit", "2/s", "--flood-lock", "1s"]);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, body) = emu.call("user/info", json!({})).await;
        statuses.push(status.as_u16());
        if status == 403 {
            assert_eq!(body["message"], FLOOD);
        }
    }
    assert_eq!(
        &statuses[..2],
        [200, 200],
        "burst of 2 admitted: {statuses:?}"
    );
    assert!(statuses[2..].contains(&403), "{statuses:?}");
    // Locked: even after the bucket refilled, every API call is refused until the lock ends.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, body) = emu.call("file/ls", json!({"folder_id": 0})).await;
    assert_eq!(
        (status.as_u16(), body["message"].as_str()),
        (403, Some(FLOOD))
    );
    // The upload node and end.pl are not rate limited.
    assert_eq!(
        emu.http
            .get(emu.url("/end.pl?xid=none"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(emu.call("user/info", json!({})).await.0, 200);
    let stats = emu.stats().await;
    assert!(stats["throttled"].as_u64().unwrap() >= 2, "{stats}");
}

#[tokio::test]
async fn relisting_a_folder_too_soon_is_a_flood() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &["--list-interval", "800ms"]);
    let other = emu.mkdir(0, "other").await;
    emu.ok("file/ls", json!({"folder_id": 0})).await;
    emu.ok("folder/ls", json!({"folder_id": 0})).await;
    emu.ok("file/ls", json!({"folder_id": other})).await;
    let (status, body) = emu.call("file/ls", json!({"folder_id": 0})).await;
    assert_eq!(
        (status.as_u16(), body["message"].as_str()),
        (403, Some(FLOOD))
    );
    let (status, _) = emu.call("folder/ls", json!({"folder_id": 0})).await;
    assert_eq!(status, 403);
    // Other calls are unaffected (no lock).
    emu.ok("user/info", json!({})).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    emu.ok("file/ls", json!({"folder_id": 0})).await;
    let stats = emu.stats().await;
    assert_eq!(stats["list_violations"], 2);
}

#[tokio::test]
async fn faults_are_errors_or_dropped_connections() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &["--fault-rate", "1"]);
    let mut seen_status = 0;
    for _ in 0..20 {
        let resp = emu
            .http
            .post(emu.url("/v1/user/info.cgi"))
            .bearer_auth(KEY)
            .header("Content-Type", "application/json")
            .send()
            .await;
        match resp {
            Ok(resp) => {
                assert!(
                    [500, 502, 503].contains(&resp.status().as_u16()),
                    "{}",
                    resp.status()
                );
                seen_status += 1;
            }
            Err(e) => assert!(!e.is_status(), "{e}"),
        }
    }
    assert!(seen_status > 0);
    assert_eq!(emu.stats().await["faults"], 20);
}

#[tokio::test]
async fn end_pl_faults_include_the_please_wait_page() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &["--fault-rate", "1"]);
    let mut please_wait = 0;
    for _ in 0..80 {
        let resp = emu
            .http
            .get(emu.url("/end.pl?xid=abc"))
            .header("JSON", "1")
            .send()
            .await;
        let Ok(resp) = resp else { continue };
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        match status {
            200 => {
                assert!(body.contains("Please wait"), "{body}");
                please_wait += 1;
            }
            _ => assert!([500, 502, 503].contains(&status), "{status}"),
        }
    }
    assert!(please_wait > 0, "80 draws without a Please wait page");
}
