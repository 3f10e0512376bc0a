//! The download host: tokens, ranges, expiry, single use.

mod common;

use common::Emulator;
use serde_json::json;

#[tokio::test]
async fn ranged_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let url = emu.upload(0, &[("blob.bin", &data)]).await[0]["download"]
        .as_str()
        .unwrap()
        .to_string();

    let full = emu.download(&url, None).await;
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert_eq!(&full.bytes().await.unwrap()[..], &data[..]);

    let part = emu.download(&url, Some("bytes=100-199")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(&part.bytes().await.unwrap()[..], &data[100..200]);

    let tail = emu.download(&url, Some("bytes=-10")).await;
    assert_eq!(tail.status(), 206);
    assert_eq!(&tail.bytes().await.unwrap()[..], &data[9_990..]);

    let open = emu.download(&url, Some("bytes=9995-")).await;
    assert_eq!(&open.bytes().await.unwrap()[..], &data[9_995..]);

    let beyond = emu.download(&url, Some("bytes=10000-")).await;
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], "bytes */10000");
}

#[tokio::test]
async fn single_tokens_serve_one_get_others_many() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let url = emu.upload(0, &[("s.txt", b"secret")]).await[0]["download"]
        .as_str()
        .unwrap()
        .to_string();

    let single = emu
        .ok("download/get_token", json!({"url": url, "single": 1}))
        .await;
    let token_url = single["url"].as_str().unwrap();
    assert!(
        token_url.starts_with(&format!("{}/p", emu.base)),
        "{token_url}"
    );
    assert_eq!(
        &emu.get_token_url(token_url, None)
            .await
            .bytes()
            .await
            .unwrap()[..],
        b"secret"
    );
    let again = emu.get_token_url(token_url, None).await;
    assert_eq!(
        again.status(),
        200,
        "expired tokens answer an HTML page with 200"
    );
    assert!(again.text().await.unwrap().contains("<html"));

    let multi = emu
        .ok("download/get_token", json!({"url": url, "single": 0}))
        .await;
    let multi_url = multi["url"].as_str().unwrap();
    for _ in 0..2 {
        let body = emu
            .get_token_url(multi_url, Some("bytes=0-2"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(&body[..], b"sec");
    }
}

#[tokio::test]
async fn tokens_expire() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &["--token-ttl", "1s"]);
    let url = emu.upload(0, &[("e.txt", b"bytes")]).await[0]["download"]
        .as_str()
        .unwrap()
        .to_string();
    let token = emu
        .ok("download/get_token", json!({"url": url, "single": 0}))
        .await;
    let token_url = token["url"].as_str().unwrap();
    assert_eq!(
        &emu.get_token_url(token_url, None)
            .await
            .bytes()
            .await
            .unwrap()[..],
        b"bytes"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let expired = emu.get_token_url(token_url, None).await;
    assert_eq!(expired.status(), 200);
    let text = expired.text().await.unwrap();
    assert!(
        text.contains("<html") && !text.contains("bytes</"),
        "{text}"
    );
}

#[tokio::test]
async fn public_host_and_scheme_shape_the_urls() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(
        dir.path(),
        &[
            "--public-host",
            "dl.example:9999",
            "--public-scheme",
            "https",
        ],
    );
    let server: serde_json::Value = emu
        .http
        .get(emu.url("/v1/upload/get_upload_server.cgi"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(server["url"], "dl.example:9999");
    let id = server["id"].as_str().unwrap();
    assert!(id.len() <= 10 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    let links = emu
        .upload_via(&emu.base.replace("http://", ""), 0, &[("x", b"x")])
        .await;
    let url = links[0]["download"].as_str().unwrap();
    let token = emu.ok("download/get_token", json!({"url": url})).await;
    let token_url = token["url"].as_str().unwrap();
    assert!(
        token_url.starts_with("https://dl.example:9999/p"),
        "{token_url}"
    );
}
