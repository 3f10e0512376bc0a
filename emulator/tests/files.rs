//! File and folder operations: listings, identity across rename/mv/cp, duplicates, KO cases.

mod common;

use common::{names, Emulator};
use serde_json::json;

#[tokio::test]
async fn rename_and_move_keep_the_url_copy_makes_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let dest = emu.mkdir(0, "dest").await;
    let links = emu.upload(0, &[("orig.txt", b"payload")]).await;
    let url = links[0]["download"].as_str().unwrap().to_string();

    let renamed = emu
        .ok(
            "file/rename",
            json!({"urls": [{"url": url, "filename": "new.txt"}], "pretty": 0}),
        )
        .await;
    assert_eq!(renamed["renamed"], 1);
    assert_eq!(renamed["urls"][0]["old_filename"], "orig.txt");
    let info = emu.ok("file/info", json!({"url": url})).await;
    assert_eq!(info["filename"], "new.txt");

    let moved = emu
        .ok(
            "file/mv",
            json!({"urls": [url], "destination_folder_id": dest, "rename": "moved.txt"}),
        )
        .await;
    assert_eq!(moved["urls"], json!([url]));
    let info = emu.ok("file/info", json!({"url": url})).await;
    assert_eq!(
        (info["filename"].as_str(), info["folder_id"].as_u64()),
        (Some("moved.txt"), Some(dest))
    );
    assert_eq!(info["path"], "dest");
    assert!(emu.list_files(0).await.is_empty());

    let copied = emu
        .ok(
            "file/cp",
            json!({"urls": [url], "folder_id": 0, "rename": "copy.txt"}),
        )
        .await;
    assert_eq!(copied["copied"], 1);
    assert_eq!(copied["urls"][0]["from_url"], url.as_str());
    let copy_url = copied["urls"][0]["to_url"].as_str().unwrap();
    assert_ne!(copy_url, url);
    let copy = emu.ok("file/info", json!({"url": copy_url})).await;
    assert_eq!(
        (copy["filename"].as_str(), copy["size"].as_u64()),
        (Some("copy.txt"), Some(7))
    );
    assert_eq!(copy["checksum"], info["checksum"]);
    let body = emu.download(copy_url, None).await.bytes().await.unwrap();
    assert_eq!(&body[..], b"payload");
}

#[tokio::test]
async fn same_name_rename_is_refused_with_312() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let url = emu.upload(0, &[("same.txt", b"1")]).await[0]["download"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = emu
        .call(
            "file/rename",
            json!({"urls": [{"url": url, "filename": "same.txt"}]}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["status"].as_str()),
        (200, Some("KO"))
    );
    assert_eq!(body["message"], "No file has been renamed #312");
    let (status, body) = emu
        .call(
            "file/mv",
            json!({"urls": [url], "destination_folder_id": 0, "rename": "same.txt"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["message"].as_str()),
        (200, Some("No file has been renamed #312"))
    );
    let (_, body) = emu
        .call(
            "file/rename",
            json!({"urls": [{"url": url, "filename": "bad<name>"}]}),
        )
        .await;
    assert_eq!(body["status"], "KO");
}

#[tokio::test]
async fn duplicate_file_names_coexist() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    emu.upload(0, &[("dup.txt", b"one")]).await;
    emu.upload(0, &[("dup.txt", b"two")]).await;
    let items = emu.list_files(0).await;
    assert_eq!(names(&items), ["dup.txt", "dup.txt"]);
    assert_ne!(items[0]["url"], items[1]["url"]);
    assert_eq!(emu.ok("file/ls", json!({"folder_id": 0})).await["count"], 2);
}

#[tokio::test]
async fn unknown_urls_are_404_469() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let ghost = "https://1fichier.com/?aaaaaaaaaaaaaaaaaaaa";
    for (endpoint, body) in [
        ("file/info", json!({"url": ghost})),
        ("file/rm", json!({"files": [{"url": ghost}]})),
        ("download/get_token", json!({"url": ghost, "single": 1})),
        (
            "file/mv",
            json!({"urls": [ghost], "destination_folder_id": 0}),
        ),
    ] {
        let (status, value) = emu.call(endpoint, body).await;
        assert_eq!(status, 404, "{endpoint}");
        assert_eq!(
            value,
            json!({"status": "KO", "message": "Resource not found #469"}),
            "{endpoint}"
        );
    }
}

#[tokio::test]
async fn remove_files_in_batch() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let links = emu
        .upload(0, &[("a", b"1"), ("b", b"2"), ("c", b"3")])
        .await;
    let files: Vec<_> = links[..2]
        .iter()
        .map(|l| json!({"url": l["download"]}))
        .collect();
    let removed = emu.ok("file/rm", json!({"files": files})).await;
    assert_eq!(removed["removed"], 2);
    assert_eq!(names(&emu.list_files(0).await), ["c"]);
}

#[tokio::test]
async fn folders_mkdir_ls_mv_rm() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &[]);
    let a = emu.mkdir(0, "a").await;
    let b = emu.mkdir(0, "b").await;
    assert!(a > 0 && b > a);

    let (status, dup) = emu
        .call("folder/mkdir", json!({"name": "a", "folder_id": 0}))
        .await;
    assert_eq!(
        (status.as_u16(), dup["message"].as_str()),
        (200, Some("Folder already exists #618"))
    );
    let (_, bad) = emu
        .call("folder/mkdir", json!({"name": "it's", "folder_id": 0}))
        .await;
    assert_eq!(bad["status"], "KO");

    let root = emu.ok("folder/ls", json!({"folder_id": 0})).await;
    assert_eq!(root["name"], "Root");
    assert_eq!(root["folder_id"], 0);
    let subs = root["sub_folders"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0]["name"], "a");
    assert_eq!(subs[0]["pass"], json!(0), "pass is an int");
    assert_eq!(subs[0]["create_date"].as_str().unwrap().len(), 19);

    // Moving b into a; destination omitted means root when moving back.
    let moved = emu.ok("folder/mv", json!({"folder_id": b, "destination_folder_id": a, "rename": "b2", "destination_user": ""})).await;
    assert_eq!(
        (moved["old_name"].as_str(), moved["new_name"].as_str()),
        (Some("b"), Some("b2"))
    );
    let in_a = emu.ok("folder/ls", json!({"folder_id": a})).await;
    assert_eq!(in_a["sub_folders"][0]["id"], b);
    let (_, loop_) = emu
        .call(
            "folder/mv",
            json!({"folder_id": a, "destination_folder_id": b}),
        )
        .await;
    assert_eq!(loop_["status"], "KO");
    emu.ok("folder/mv", json!({"folder_id": b, "destination_user": ""}))
        .await;
    assert_eq!(
        emu.ok("folder/ls", json!({"folder_id": 0})).await["sub_folders"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    emu.upload(a, &[("f.txt", b"f")]).await;
    let (status, full) = emu.call("folder/rm", json!({"folder_id": a})).await;
    assert_eq!(
        (status.as_u16(), full["status"].as_str()),
        (200, Some("KO"))
    );
    let with_files = emu
        .ok("folder/ls", json!({"folder_id": a, "files": 1}))
        .await;
    assert_eq!(with_files["items"][0]["filename"], "f.txt");
    let url = with_files["items"][0]["url"].clone();
    emu.ok("file/rm", json!({"files": [{"url": url}]})).await;
    emu.ok("folder/rm", json!({"folder_id": a})).await;
    let (status, _) = emu.call("folder/ls", json!({"folder_id": a})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn user_info_has_rclone_types_and_usage() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(dir.path(), &["--quota", "1000000"]);
    emu.upload(0, &[("a", b"12345")]).await;
    let info = emu.ok("user/info", json!({})).await;
    assert_eq!(info["cold_storage"], json!(5));
    assert_eq!(info["available_cold_storage"], json!(1_000_000));
    for field in [
        "offer",
        "2fa",
        "use_cdn",
        "cdn",
        "upload_forbidden",
        "stats_date",
        "subscription_end",
        "ftp_mode",
    ] {
        assert!(info[field].is_string(), "{field} must be a string: {info}");
    }
    for field in [
        "default_domain",
        "page_limit",
        "ftp_did",
        "hot_storage",
        "default_quota",
    ] {
        assert!(info[field].is_i64(), "{field} must be an integer: {info}");
    }
}
