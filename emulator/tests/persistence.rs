//! State surviving a restart, and the /_emulator/stats counters.

mod common;

use common::{names, Emulator};
use serde_json::json;

#[tokio::test]
async fn account_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let folder = emu.mkdir(0, "kept").await;
    let links = emu
        .upload(folder, &[("one.txt", b"first"), ("two.txt", b"second")])
        .await;
    let url = links[1]["download"].as_str().unwrap().to_string();
    emu.ok(
        "file/rename",
        json!({"urls": [{"url": url, "filename": "deux.txt"}]}),
    )
    .await;
    emu.ok("file/rm", json!({"files": [{"url": links[0]["download"]}]}))
        .await;
    emu.stop();

    let emu = Emulator::start(dir.path(), &[]);
    let root = emu.ok("folder/ls", json!({"folder_id": 0})).await;
    assert_eq!(root["sub_folders"][0]["id"], folder);
    let items = emu.list_files(folder as i64).await;
    assert_eq!(names(&items), ["deux.txt"]);
    assert_eq!(items[0]["url"], url.as_str());
    let body = emu.download(&url, None).await.bytes().await.unwrap();
    assert_eq!(&body[..], b"second");
    let newer = emu.mkdir(0, "newer").await;
    assert!(newer > folder, "folder ids are not reused");
}

#[tokio::test]
async fn stats_count_calls_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let url = emu.upload(0, &[("a", b"12345"), ("b", b"678")]).await[0]["download"]
        .as_str()
        .unwrap()
        .to_string();
    emu.list_files(0).await;
    emu.list_files(0).await;
    emu.download(&url, Some("bytes=1-2"))
        .await
        .bytes()
        .await
        .unwrap();
    let stats = emu.stats().await;
    let calls = &stats["calls"];
    assert_eq!(calls["get_upload_server"], 1);
    assert_eq!(calls["upload"], 1);
    assert_eq!(calls["end"], 1);
    assert_eq!(calls["file/ls"], 2);
    assert_eq!(calls["download/get_token"], 1);
    assert_eq!(calls["download"], 1);
    assert_eq!(calls["folder/ls"], 0);
    assert_eq!(stats["total_api_calls"], 4, "{stats}");
    assert_eq!(stats["files_uploaded"], 2);
    assert_eq!(stats["bytes_in"], 8);
    assert_eq!(stats["bytes_out"], 2);
    assert_eq!(stats["throttled"], 0);

    let reset = emu
        .http
        .post(emu.url("/_emulator/reset-stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    let stats = emu.stats().await;
    assert_eq!(stats["total_api_calls"], 0);
    assert_eq!(stats["calls"]["upload"], 0);
}
