//! The upload node: get_upload_server → multipart upload.cgi → 302 → end.pl.

mod common;

use common::{whirlpool_hex, Emulator, KEY};
use serde_json::json;

#[test]
fn whirlpool_matches_the_reference_vector() {
    assert_eq!(
        whirlpool_hex(b"The quick brown fox jumps over the lazy dog"),
        "b97de512e91e3828b40d2b0fdce9ceb3c4a71f9bea8d88e75c4fa854df36725f\
         d2b52eb6544edcacd6f8beddfea403cb55ae31f03ad62a5ef54e42ee82c3fb35"
    );
}

#[tokio::test]
async fn three_files_in_one_request_are_reported_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let folder = emu.mkdir(0, "inbox").await;
    let files: [(&str, &[u8]); 3] = [
        ("a.txt", b"alpha"),
        ("b.bin", b"bravo!"),
        ("c.txt", b"charlie charlie"),
    ];
    let links = emu.upload(folder, &files).await;

    assert_eq!(links.len(), 3);
    for (link, (name, bytes)) in links.iter().zip(files) {
        assert_eq!(link["filename"], name);
        assert_eq!(
            link["size"],
            json!(bytes.len().to_string()),
            "size must be a string"
        );
        assert_eq!(link["whirlpool"], whirlpool_hex(bytes));
        let url = link["download"].as_str().unwrap();
        let id = url
            .strip_prefix("https://1fichier.com/?")
            .expect("file URL shape");
        assert_eq!(id.len(), 20);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert!(link["remove"].as_str().unwrap().starts_with("https://"));
    }
    let listed = emu.list_files(folder as i64).await;
    assert_eq!(common::names(&listed), ["a.txt", "b.bin", "c.txt"]);
    assert_eq!(listed[2]["size"], json!(15));
    assert_eq!(listed[2]["checksum"], whirlpool_hex(b"charlie charlie"));
    assert_eq!(listed[0]["content-type"], "text/plain");
    let date = listed[0]["date"].as_str().unwrap();
    assert_eq!(date.len(), 19, "YYYY-MM-DD HH:MM:SS: {date}");
}

#[tokio::test]
async fn html_report_does_not_consume_the_json_one() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let id = emu.upload_raw(Some(KEY), "0", &[("x.txt", b"x")]).await;
    let html = emu
        .http
        .get(emu.url(&format!("/end.pl?xid={id}")))
        .send()
        .await
        .unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains("<table") && html.contains("x.txt"), "{html}");
    let report = emu.end_json(&id).await;
    assert_eq!(report["incoming"], 0);
    assert_eq!(report["links"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn report_expires() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &["--report-ttl", "1s"]);
    let id = emu.upload_raw(Some(KEY), "0", &[("x.txt", b"x")]).await;
    assert_eq!(
        emu.end_json(&id).await["links"].as_array().unwrap().len(),
        1
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let report = emu.end_json(&id).await;
    assert_eq!(report["status"], "KO", "{report}");
}

#[tokio::test]
async fn invalid_did_lands_in_root() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    emu.upload_raw(Some(KEY), "987654", &[("lost.txt", b"1")])
        .await;
    emu.upload_raw(Some(KEY), "garbage", &[("junk.txt", b"2")])
        .await;
    assert_eq!(
        common::names(&emu.list_files(0).await),
        ["lost.txt", "junk.txt"]
    );
}

#[tokio::test]
async fn forbidden_names_and_empty_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    for name in ["quote\"d.txt", "dollar$.txt", " lead.txt", "back\\slash"] {
        let server: serde_json::Value = emu
            .http
            .get(emu.url("/v1/upload/get_upload_server.cgi"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = server["id"].as_str().unwrap();
        let part = reqwest::multipart::Part::bytes(b"data".to_vec()).file_name(name.to_string());
        let form = reqwest::multipart::Form::new()
            .text("did", "0")
            .part("file[]", part);
        let resp = emu
            .http
            .post(emu.url(&format!("/upload.cgi?id={id}")))
            .bearer_auth(KEY)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name:?} must not redirect");
        assert!(resp.text().await.unwrap().contains("bloc2"));
        let report = emu.end_json(id).await;
        assert_eq!(report["status"], "KO", "{name:?}: {report}");
        assert!(report["message"].as_str().unwrap().contains("#613"));
    }
    assert!(emu.list_files(0).await.is_empty());
}

#[tokio::test]
async fn anonymous_uploads_do_not_land_in_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let id = emu.upload_raw(None, "0", &[("anon.txt", b"anon")]).await;
    let report = emu.end_json(&id).await;
    let url = report["links"][0]["download"].as_str().unwrap().to_string();
    assert!(emu.list_files(0).await.is_empty());
    let (status, body) = emu.call("file/info", json!({"url": url})).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Resource not found #469");
}

#[tokio::test]
async fn empty_files_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let strict = Emulator::start(dir.path(), &[]);
    let server: serde_json::Value = strict
        .http
        .get(strict.url("/v1/upload/get_upload_server.cgi"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = server["id"].as_str().unwrap();
    let part = reqwest::multipart::Part::bytes(Vec::new()).file_name("empty.txt");
    let form = reqwest::multipart::Form::new()
        .text("did", "0")
        .part("file[]", part);
    let url = strict.url(&format!("/upload.cgi?id={id}"));
    let resp = strict
        .http
        .post(url)
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(strict.end_json(id).await["status"], "KO");
    strict.stop();

    let lenient = Emulator::start(dir.path(), &["--allow-empty-files"]);
    let links = lenient.upload(0, &[("empty.txt", b"")]).await;
    assert_eq!(links[0]["size"], "0");
    assert_eq!(common::names(&lenient.list_files(0).await), ["empty.txt"]);
}
