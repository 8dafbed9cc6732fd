//! `hearth audit verify` and `hearth audit tail` on a log written by hearth-audit, with its
//! key and anchored head in a vault file.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_audit::{AuditLog, AuditOptions, Entry, Event, Outcome};
use hearth_secure_storage::{EncryptedFileStore, KeySource};

fn hearth(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    if args[1] == "verify" {
        all.extend(common::vault_args(dir));
    }
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    common::run_hearth(&all, b"", |_| {})
}

fn write_log(dir: &Path) -> PathBuf {
    let store = EncryptedFileStore::open(
        dir.join("vault.hearth"),
        KeySource::KeyFile(dir.join("vault.key")),
    )
    .unwrap();
    let path = dir.join("log/audit.jsonl");
    let log = AuditLog::open_in(
        &path,
        Arc::new(store),
        &"app::audit".parse().unwrap(),
        AuditOptions::default(),
    )
    .unwrap();
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        log.append(Entry::new(Event::Login, user, "session", "sign in", Outcome::Success).unwrap())
            .unwrap();
    }
    path
}

#[test]
fn verify_passes_a_sound_log_and_names_the_first_bad_record() {
    let dir = std::env::temp_dir().join(format!("hearth-cli-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = write_log(&dir);
    let file = path.to_str().unwrap();

    let ok = hearth(&dir, &["audit", "verify", file, "--store", "app::audit"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "ok: 5 record(s) in 1 file(s); head seq 5, as anchored\n"
    );

    let tail = hearth(&dir, &["audit", "tail", file, "-n", "2"]);
    let text = String::from_utf8(tail.stdout).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.contains("\"actor\":\"dave\"") && text.contains("\"actor\":\"erin\""));

    // carol becomes an administrator in the file.
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"carol\"", "\"admin\"");
    std::fs::write(&path, edited).unwrap();
    let bad = hearth(&dir, &["audit", "verify", file, "--store", "app::audit"]);
    assert_eq!(bad.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("line 3 (seq 3): its MAC does not match"),
        "{stderr}"
    );

    // The last two records cut off: the anchored head says so.
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&path, format!("{}\n", kept.join("\n"))).unwrap();
    let cut = hearth(&dir, &["audit", "verify", file, "--store", "app::audit"]);
    assert_eq!(cut.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&cut.stderr);
    assert!(
        stderr.contains("ends at seq 2, but its anchored head is seq 5"),
        "{stderr}"
    );

    // No key in the store: not found.
    let missing = hearth(&dir, &["audit", "verify", file, "--store", "other::audit"]);
    assert_eq!(missing.status.code(), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}
