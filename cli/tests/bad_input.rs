//! End-to-end check of issue 8's item 16: bad input (absurd durations, sizes and rates on the
//! command line or in the config file, a config path that is a folder, a mount point that is
//! a file) gets one clear line on stderr and the documented exit code, never a panic.

mod common;

use std::process::Output;

use common::{stderr, stdout, Env};

/// Asserts one line on stderr containing `want`, exit code `code`, no panic; unmounts if the
/// command mounted after all.
fn fails(env: &Env, what: &str, out: &Output, code: i32, want: &str) {
    let err = stderr(out);
    if out.status.success() && env.mounted() {
        let _guard = env.adopt_mount();
        panic!("{what}: mounted; expected exit {code}: {}", stdout(out));
    }
    assert!(!err.contains("panicked"), "{what}: panicked: {err}");
    assert_eq!(out.status.code(), Some(code), "{what}: stderr: {err}");
    assert!(err.contains(want), "{what}: stderr lacks {want:?}: {err}");
    assert_eq!(
        err.trim().lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{what}: not one line: {err}"
    );
}

/// clap's usage errors end with a hint line; only the first line is the error.
fn usage_fails(env: &Env, what: &str, out: &Output, want: &str) {
    let err = stderr(out);
    if out.status.success() && env.mounted() {
        let _guard = env.adopt_mount();
        panic!("{what}: mounted; expected a usage error");
    }
    assert!(!err.contains("panicked"), "{what}: panicked: {err}");
    assert_eq!(out.status.code(), Some(2), "{what}: stderr: {err}");
    assert!(err.contains(want), "{what}: stderr lacks {want:?}: {err}");
}

#[test]
fn item16_bad_input_is_one_line_never_a_panic() {
    let env = Env::new();
    let mnt = env.mnt.to_str().unwrap();
    // Durations and sizes on the command line.
    for (flag, value) in [
        ("--write-back", "99999999999999999999s"),
        ("--write-back", "1e400s"),
        ("--write-back", "99999999999999999999h"),
        ("--dir-cache-time", "1e300"),
        ("--dir-cache-time", "18446744073709551616ms"),
        ("--cache-max-size", "99999999999999999999T"),
        ("--cache-max-size", "1e400"),
    ] {
        let out = env.run(&["mount", "demo:", mnt, flag, value]);
        usage_fails(&env, &format!("{flag} {value}"), &out, value);
    }
    // Rates on the command line (checked before any network call).
    for rate in ["1e-20", "NaN", "-1", "0", "inf", "1e300"] {
        let out = env
            .cmd()
            .args([
                "remote",
                "add",
                "x",
                "--type",
                "1fichier",
                "--endpoint",
                "http://127.0.0.1:9/v1",
                &format!("--rate={rate}"),
            ])
            .env("OURCLONE_1FICHIER_API_KEY", "some-key")
            .output()
            .unwrap();
        usage_fails(&env, &format!("--rate {rate}"), &out, "rate");
    }
    // Numbers and durations in the config file.
    let config = env.dir.path().join("bad.toml");
    for (field, want) in [
        ("rate = 1e-20", "rate"),
        ("rate = -1.0", "rate"),
        ("rate = nan", "rate"),
        ("rate = inf", "rate"),
        ("rate = 0.0", "rate"),
        ("flood_backoff = \"99999999999999999999s\"", "flood_backoff"),
        ("list_interval = \"1e400s\"", "list_interval"),
        ("list_interval = \"-5s\"", "list_interval"),
    ] {
        std::fs::write(
            &config,
            format!(
                "[remotes.x]\ntype = \"1fichier\"\napi_key = \"k\"\nendpoint = \"http://127.0.0.1:9/v1\"\n{field}\n"
            ),
        )
        .unwrap();
        let out = env
            .cmd()
            .env("OURCLONE_FS_CONFIG", &config)
            .args(["mount", "x:", mnt])
            .output()
            .unwrap();
        fails(&env, field, &out, 3, want);
        let out = env
            .cmd()
            .env("OURCLONE_FS_CONFIG", &config)
            .args(["remote", "list"])
            .output()
            .unwrap();
        fails(&env, &format!("remote list with {field}"), &out, 3, want);
    }
    // A config path that is a folder.
    let out = env
        .cmd()
        .env("OURCLONE_FS_CONFIG", env.dir.path())
        .args(["mount", "demo:", mnt])
        .output()
        .unwrap();
    fails(&env, "config is a folder", &out, 3, "is a folder");
    // A mount point that is a regular file.
    let file = env.dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let out = env.run(&["mount", "demo:", file.to_str().unwrap()]);
    fails(&env, "mount point is a file", &out, 5, "is not a directory");
}
