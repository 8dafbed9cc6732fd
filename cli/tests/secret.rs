//! `hearth secret …` as a user runs it.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("hearth-cli-secret-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    p
}

fn hearth(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    common::run_hearth(args, stdin, |c| {
        // Default locations land in the scratch directory, never in the real home.
        c.env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .envs(env.iter().copied());
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn set_get_list_delete_clear_with_the_default_vault() {
    let dir = scratch("defaults");
    let ok = |args: &[&str], stdin: &[u8]| {
        let mut args = args.to_vec();
        args.extend_from_slice(&["--backend", "vault"]);
        let out = hearth(&dir, &args, stdin, &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        out.stdout
    };
    ok(
        &["secret", "set", "jellytau::srv::u1::access_token"],
        b"tok-1\n",
    );
    ok(
        &["secret", "set", "jellytau::srv::u2::access_token"],
        b"tok-2",
    );
    ok(
        &["secret", "set", "minify::spotify::refresh_token"],
        b"\x00\xffbinary\n\n",
    );
    assert_eq!(
        ok(&["secret", "get", "jellytau::srv::u1::access_token"], b""),
        b"tok-1"
    );
    assert_eq!(
        ok(&["secret", "get", "minify::spotify::refresh_token"], b""),
        b"\x00\xffbinary\n"
    );
    assert_eq!(
        text(&ok(&["secret", "list", "jellytau"], b"")),
        "jellytau::srv::u1::access_token\njellytau::srv::u2::access_token\n"
    );
    assert_eq!(
        text(&ok(&["secret", "list", "minify"], b"")),
        "minify::spotify::refresh_token\n"
    );
    ok(&["secret", "delete", "minify::spotify::refresh_token"], b"");
    assert_eq!(
        text(&ok(&["secret", "clear", "jellytau::srv"], b"")),
        "jellytau::srv::u1::access_token\njellytau::srv::u2::access_token\n"
    );
    assert_eq!(ok(&["secret", "list", "jellytau"], b""), b"");

    // Each key's first segment is its app: jellytau's and minify's stores are apart.
    assert!(dir.join("data/minify/vault.hearth").exists());
    assert!(
        !dir.join("data/hearth").exists(),
        "nothing in the default app's store"
    );
    let vault = dir.join("data/jellytau/vault.hearth");
    let key = dir.join("config/jellytau/vault.key");
    assert_eq!(
        fs::metadata(&vault).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(dir.join("data/jellytau"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exit_codes_for_missing_wrong_and_damaged() {
    let dir = scratch("codes");
    let v = dir.join("v.hearth");
    let vs = v.to_str().unwrap();
    let pw = [("PW", "correct horse"), ("BAD", "wrong horse")];
    // `hearth secret CMD KEY --vault v.hearth --passphrase-env VAR [extra...]`
    let run = |cmd: &str, key: &str, var: &str, extra: &[&str], stdin: &[u8]| {
        let mut args = vec!["secret", cmd, key, "--vault", vs, "--passphrase-env", var];
        args.extend_from_slice(extra);
        hearth(&dir, &args, stdin, &pw)
    };

    let out = run("get", "app::k", "PW", &[], b"");
    assert_eq!(
        out.status.code(),
        Some(3),
        "missing vault: {}",
        text(&out.stderr)
    );
    assert!(!v.exists(), "a read does not create a vault");

    let out = run("set", "app::k", "PW", &[], b"s3cret-value");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        run("get", "app::missing", "PW", &[], b"").status.code(),
        Some(3)
    );
    assert_eq!(
        run("delete", "app::missing", "PW", &[], b"").status.code(),
        Some(3)
    );

    let out = run("get", "app::k", "BAD", &[], b"");
    assert_eq!(out.status.code(), Some(5));
    let err = text(&out.stderr);
    assert!(
        err.contains("wrong key or passphrase") && !err.contains("horse"),
        "{err}"
    );

    assert_eq!(
        run("get", "app::k", "UNSET_VAR", &[], b"").status.code(),
        Some(2)
    );
    assert_eq!(
        run("get", "not-a-key", "PW", &[], b"").status.code(),
        Some(2)
    );
    let both = run("get", "app::k", "PW", &["--key-file", "x"], b"");
    assert_eq!(
        both.status.code(),
        Some(2),
        "a passphrase and a key file conflict"
    );

    let mut bytes = fs::read(&v).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 0x01; // inside the body
    fs::write(&v, &bytes).unwrap();
    let out = run("get", "app::k", "PW", &[], b"");
    assert_eq!(out.status.code(), Some(5));
    assert!(
        text(&out.stderr).contains("modified"),
        "{}",
        text(&out.stderr)
    );

    fs::set_permissions(&v, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(run("get", "app::k", "PW", &[], b"").status.code(), Some(4));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn oversize_values_are_refused() {
    let dir = scratch("big");
    let v = dir.join("v");
    let k = dir.join("k");
    let args = [
        "secret",
        "set",
        "app::k",
        "--vault",
        v.to_str().unwrap(),
        "--key-file",
        k.to_str().unwrap(),
    ];
    let out = hearth(&dir, &args, &vec![b'x'; (1 << 20) + 1], &[]);
    assert_eq!(out.status.code(), Some(4));
    let out = hearth(&dir, &args, &vec![b'x'; 1 << 20], &[]);
    assert!(out.status.success());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_key_file_on_read_names_it_and_is_never_created() {
    let dir = scratch("typo");
    let v = dir.join("v.hearth");
    let (vs, ks) = (v.to_str().unwrap(), dir.join("k").display().to_string());
    let typo = dir.join("kk");
    let out = hearth(
        &dir,
        &["secret", "set", "--vault", vs, "--key-file", &ks, "a::k"],
        b"s",
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    for cmd in ["get", "delete"] {
        let out = hearth(
            &dir,
            &[
                "secret",
                cmd,
                "--vault",
                vs,
                "--key-file",
                typo.to_str().unwrap(),
                "a::k",
            ],
            b"",
            &[],
        );
        assert_eq!(out.status.code(), Some(3), "{cmd}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("kk"),
            "{cmd}: {}",
            text(&out.stderr)
        );
        assert!(!typo.exists(), "{cmd} created a key file");
    }
    fs::remove_dir_all(&dir).unwrap();
}
