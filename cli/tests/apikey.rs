//! `hearth apikey` as a user runs it: keys printed once, lists without secrets, verify's
//! exit codes, revoking one key leaves the others working.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn hearth(args: &[&str], stdin: &str) -> Output {
    common::run_hearth(args, stdin.as_bytes(), |_| {})
}

/// `hearth apikey ARGS... --registry REG`.
fn apikey(reg: &Path, args: &[&str], stdin: &str) -> Output {
    let mut all = vec!["apikey"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--registry", reg.to_str().unwrap()]);
    hearth(&all, stdin)
}

fn registry(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearth-cli-apikey-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("keys")
}

fn new_key(reg: &Path, role: &str, label: &str) -> String {
    let out = apikey(reg, &["new", "--role", role, "--label", label], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("hth_") && key.len() == 50, "{key}");
    key
}

fn verify(reg: &Path, key: &str) -> Output {
    apikey(reg, &["verify"], key)
}

#[test]
fn issue_list_verify_revoke() {
    let reg = registry("flow");
    let tablet = new_key(&reg, "consumer", "living-room tablet");
    let admin = new_key(&reg, "administrator", "ops");
    assert_eq!(
        std::fs::metadata(&reg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let stored = std::fs::read_to_string(&reg).unwrap();
    assert!(!stored.contains(&tablet[4..]) && !stored.contains(&admin[4..]));

    let out = apikey(&reg, &["list"], "");
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(!listing.contains(&tablet[4..]), "a secret in the listing");
    let lines: Vec<Vec<&str>> = listing.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2);
    let tablet_id = &tablet[4..12];
    assert_eq!(lines[0][0], tablet_id);
    assert_eq!(&lines[0][1..3], ["consumer", "living-room tablet"]);
    assert!(lines[0][3].ends_with('Z'), "created: {}", lines[0][3]);
    assert_eq!(lines[0][4], "never");
    assert_eq!(lines[0][5], format!("hth_...{}", &tablet[46..]));
    assert_eq!(lines[0][6], "active");

    let out = verify(&reg, &format!("{tablet}\n"));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{tablet_id}\tconsumer\n")
    );

    let out = apikey(&reg, &["revoke", tablet_id], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = verify(&reg, &tablet);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));
    assert!(
        verify(&reg, &admin).status.success(),
        "the other key stopped working"
    );

    let listing = apikey(&reg, &["list"], "");
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.lines().next().unwrap().ends_with("\trevoked"));
    assert!(
        !listing.lines().nth(1).unwrap().contains("never"),
        "last use not recorded"
    );

    // Revoking again, or an id that never existed: not found.
    let again = apikey(&reg, &["revoke", tablet_id], "");
    assert_eq!(again.status.code(), Some(3));
    let bad_id = apikey(&reg, &["revoke", "nope"], "");
    assert_eq!(bad_id.status.code(), Some(2));
    std::fs::remove_dir_all(reg.parent().unwrap()).unwrap();
}

#[test]
fn verify_exit_codes_for_unknown_and_malformed_keys() {
    let reg = registry("codes");
    let key = new_key(&reg, "curator", "tool");
    // A key of the right shape and checksum that this registry never issued.
    let other = registry("codes-other");
    let foreign = new_key(&other, "curator", "elsewhere");
    let out = verify(&reg, &foreign);
    assert_eq!(out.status.code(), Some(4), "unknown keys are refused");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&foreign[4..]));
    // One character changed: the checksum catches it, no lookup needed.
    let mut typo = key.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let out = verify(&reg, &typo);
    assert_eq!(out.status.code(), Some(2), "a malformed key is bad input");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&typo[4..]));
    assert_eq!(verify(&reg, "").status.code(), Some(2));
    // Roles are checked before anything is written.
    let out = apikey(&reg, &["new", "--role", "Bad Role", "--label", "x"], "");
    assert_eq!(out.status.code(), Some(2));
    for dir in [&reg, &other] {
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}

#[test]
fn an_expiring_key_verifies_and_zero_days_is_a_usage_error() {
    let reg = registry("expiry");
    let out = apikey(
        &reg,
        &[
            "new",
            "--role",
            "consumer",
            "--label",
            "temp",
            "--expires-in-days",
            "1",
        ],
        "",
    );
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap();
    assert!(verify(&reg, key.trim()).status.success());
    let out = apikey(
        &reg,
        &[
            "new",
            "--role",
            "consumer",
            "--label",
            "x",
            "--expires-in-days",
            "0",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(reg.parent().unwrap()).unwrap();
}

#[test]
fn a_sealed_registry_refuses_an_edit_and_its_seal_key_lives_in_the_vault() {
    let reg = registry("sealed");
    let dir = reg.parent().unwrap().to_path_buf();
    let vault = dir.join("seal.hearth");
    let key_file = dir.join("seal.key");
    // The seal key's store: a vault with its own key file (no keyring needed).
    let store = [
        "--backend",
        "vault",
        "--vault",
        vault.to_str().unwrap(),
        "--key-file",
        key_file.to_str().unwrap(),
    ];
    let sealed = |args: &[&str], stdin: &str| {
        let mut all = args.to_vec();
        all.push("--sealed");
        all.extend_from_slice(&store);
        apikey(&reg, &all, stdin)
    };
    let key = new_key(&reg, "consumer", "tv");
    // Without the seal key a sealed command is refused: nothing to check with.
    let missing = sealed(&["list"], "");
    assert_eq!(
        missing.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let mut seal = vec!["seal"];
    seal.extend_from_slice(&store);
    let out = apikey(&reg, &seal, "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&reg)
            .unwrap()
            .starts_with("hearth-keys-v2 ")
    );
    assert!(sealed(&["verify"], &key).status.success());
    // Unsealed commands cannot read it any more (a seal cannot be ignored).
    assert_eq!(verify(&reg, &key).status.code(), Some(5));
    // An edit outside Hearth: exit 5, a sentence, and no key admitted.
    let edited = std::fs::read_to_string(&reg)
        .unwrap()
        .replace(" consumer ", " administrator ");
    std::fs::write(&reg, edited).unwrap();
    let out = sealed(&["verify"], &key);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed its integrity check"), "{err}");
    assert!(!err.contains(&key[4..]), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
