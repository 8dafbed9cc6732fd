//! `hearth secret` on the OS keyrings, each scenario in its own D-Bus session with its own
//! gnome-keyring (so locking one cannot disturb another test): interop with secret-tool, a
//! locked collection answering `Locked` quickly, and the fallback to the vault with no
//! D-Bus at all.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Whether gnome-keyring and dbus-run-session are installed (scripts/test installs them);
/// required when HEARTH_REQUIRE_KEYRING is set.
fn keyring_tools() -> bool {
    let ok = ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"]
        .iter()
        .all(|c| {
            Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    assert!(
        ok || std::env::var_os("HEARTH_REQUIRE_KEYRING").is_none(),
        "keyring tools missing"
    );
    if !ok {
        eprintln!(
            "gnome-keyring or dbus-run-session missing: test not run (scripts/test installs them)"
        );
    }
    ok
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("hearth-cli-kr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Runs `script` (bash) in a fresh D-Bus session with an unlocked gnome-keyring whose
/// files are under `dir`; `$HEARTH` is the binary under test. Bounded to 60 s.
fn in_keyring_session(dir: &Path, script: &str) -> Output {
    in_keyring_session_for(dir, script, 60)
}

/// [`in_keyring_session`], bounded to `seconds`.
fn in_keyring_session_for(dir: &Path, script: &str, seconds: u32) -> Output {
    let prelude = format!(
        "set -u; export HOME={home} XDG_DATA_HOME={home}/data XDG_CONFIG_HOME={home}/config; \
         printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; \
         for _ in $(seq 100); do dbus-send --session --print-reply --dest=org.freedesktop.DBus \
           /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
           string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true' && break; \
           sleep 0.1; done; ",
        home = dir.display()
    );
    Command::new("timeout")
        .args([
            &seconds.to_string(),
            "dbus-run-session",
            "--",
            "bash",
            "-c",
            &(prelude + script),
        ])
        .env("HEARTH", env!("CARGO_BIN_EXE_hearth"))
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// 4 processes × 25 `set`s at once, then `list` and `clear` (a logout): every secret is
/// listed, and none survives the clear. Each backend on the real thing.
#[test]
fn concurrent_writers_in_four_processes_are_all_listed_and_all_cleared() {
    if !keyring_tools() {
        return;
    }
    for backend in ["keyring", "keyutils", "hybrid", "vault"] {
        let dir = scratch(&format!("conc-{backend}"));
        let app = format!("conc-{backend}-{}", std::process::id());
        let script = format!(
            "B={backend}; A={app}; \
             for p in 1 2 3 4; do ( for i in $(seq 1 25); do \
               printf \"v$p-$i\" | \"$HEARTH\" secret set --backend $B --app $A --timeout 60 $A::p$p::k$i \
                 || echo \"set failed: $p $i\"; done ) & done; wait; \
             echo listed=$(\"$HEARTH\" secret list --backend $B --app $A --timeout 60 $A | wc -l); \
             \"$HEARTH\" secret clear --backend $B --app $A --timeout 60 $A >/dev/null || echo clear failed; \
             for p in 1 2 3 4; do for i in $(seq 1 25); do \
               \"$HEARTH\" secret get --backend $B --app $A --timeout 60 $A::p$p::k$i >/dev/null 2>&1; \
               c=$?; [ $c = 3 ] || echo \"left: $p $i (exit $c)\"; done; done; echo end"
        );
        let out = in_keyring_session_for(&dir, &script, 600);
        // A keyring daemon started by D-Bus activation prints its control socket.
        let stdout: String = text(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("GNOME_KEYRING_CONTROL="))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            stdout,
            "listed=100\nend\n",
            "{backend}: {stdout}\n{}",
            text(&out.stderr)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn keyring_items_are_visible_to_secret_tool() {
    if !keyring_tools() {
        return;
    }
    let dir = scratch("interop");
    let out = in_keyring_session(
        &dir,
        "printf tok-123 | \"$HEARTH\" secret set --backend keyring jellytau::srv::u1::access_token && \
         secret-tool lookup service jellytau username srv::u1::access_token; echo; \
         \"$HEARTH\" secret get --backend keyring jellytau::srv::u1::access_token; echo; \
         \"$HEARTH\" secret list --backend keyring jellytau; \
         \"$HEARTH\" secret clear --backend keyring jellytau >/dev/null; \
         \"$HEARTH\" secret list --backend keyring jellytau; echo end",
    );
    assert_eq!(
        text(&out.stdout),
        "tok-123\ntok-123\njellytau::srv::u1::access_token\nend\n",
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_locked_collection_answers_locked_without_hanging() {
    if !keyring_tools() {
        return;
    }
    let dir = scratch("locked");
    let start = Instant::now();
    let out = in_keyring_session(
        &dir,
        "printf s | \"$HEARTH\" secret set --backend keyring app::k || exit 10; \
         secret-tool lock --collection=login >/dev/null 2>&1; \
         \"$HEARTH\" secret get --backend keyring --timeout 3 app::k; echo \"exit=$?\"; \
         \"$HEARTH\" secret backends --app app; echo \"backends=$?\"; \
         printf v | \"$HEARTH\" secret set app::k2; echo \"auto=$?\"; \
         find \"$HOME/data\" \"$HOME/config\" -type f -not -path '*/keyrings/*' 2>/dev/null \
           | sed 's/^/file: /'",
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(stdout.contains("exit=6"), "{stdout}\n{stderr}");
    assert!(stderr.contains("locked"), "{stderr}");
    // First use with a locked keyring: Locked, never the vault, and no file anywhere.
    assert!(stdout.contains("backends=6"), "{stdout}\n{stderr}");
    assert!(stdout.contains("auto=6"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("vault: chosen"), "{stdout}");
    assert!(!stdout.contains("file: "), "{stdout}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn with_no_dbus_at_all_auto_falls_back_to_the_vault_and_says_why() {
    let dir = scratch("nodbus");
    let run = |args: &[&str], stdin: &str| {
        common::run_hearth(args, stdin.as_bytes(), |c| {
            c.env_remove("DBUS_SESSION_BUS_ADDRESS")
                .env("XDG_RUNTIME_DIR", dir.join("no-runtime"))
                .env("HOME", &dir)
                .env("XDG_DATA_HOME", dir.join("data"))
                .env("XDG_CONFIG_HOME", dir.join("config"));
        })
    };
    let out = run(&["secret", "backends", "--app", "demo"], "");
    let report = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(report.starts_with("recorded: none yet"), "{report}");
    assert!(
        report.contains("\nhybrid: skipped (no keyring daemon:"),
        "{report}"
    );
    assert!(report.contains("vault: chosen ("), "{report}");
    assert!(report.contains("data/demo/vault.hearth"), "{report}");

    assert!(
        run(&["secret", "set", "--app", "demo", "demo::k"], "v")
            .status
            .success()
    );
    let got = run(&["secret", "get", "--app", "demo", "demo::k"], "");
    assert_eq!(got.stdout, b"v", "{}", text(&got.stderr));
    assert!(dir.join("data/demo/vault.hearth").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_keyring_that_never_answers_times_out() {
    // A "D-Bus daemon" that accepts connections and then says nothing, ever.
    let dir = scratch("deadbus");
    let socket = dir.join("bus");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn); // keep it open, never reply
        }
    });
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args([
            "secret",
            "get",
            "--backend",
            "keyring",
            "--timeout",
            "1",
            "app::k",
        ])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", socket.display()),
        )
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("did not answer within"),
        "{}",
        text(&out.stderr)
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads have no side effect: on a fresh HOME, `backends`, `get` and `list` (auto, hybrid
/// and vault) create no file and no directory; the first `set` records the choice.
#[test]
fn reads_on_a_fresh_home_create_nothing() {
    if !keyring_tools() {
        return;
    }
    let dir = scratch("noside");
    let out = in_keyring_session(
        &dir,
        "for b in auto hybrid vault; do \
           \"$HEARTH\" secret get --backend $b app::k; echo \"get-$b=$?\"; \
           \"$HEARTH\" secret list --backend $b app; echo \"list-$b=$?\"; \
           \"$HEARTH\" secret delete --backend $b app::k; echo \"delete-$b=$?\"; done; \
         \"$HEARTH\" secret backends --app app; echo \"backends=$?\"; \
         find \"$HOME\" -not -path '*/keyrings*' -not -path '*/.cache*' -type f | sed 's/^/file: /'; \
         find \"$HOME/data\" \"$HOME/config\" -mindepth 1 -type d -not -path '*/keyrings*' 2>/dev/null | sed 's/^/dir: /'; \
         printf v | \"$HEARTH\" secret set app::k; echo \"set=$?\"; \
         \"$HEARTH\" secret backends --app app | head -1",
    );
    let stdout = text(&out.stdout);
    for b in ["auto", "hybrid", "vault"] {
        assert!(
            stdout.contains(&format!("get-{b}=3")),
            "{stdout}\n{}",
            text(&out.stderr)
        );
        assert!(stdout.contains(&format!("list-{b}=0")), "{stdout}");
        assert!(stdout.contains(&format!("delete-{b}=3")), "{stdout}");
    }
    assert!(stdout.contains("backends=0"), "{stdout}");
    assert!(stdout.contains("hybrid: chosen"), "{stdout}");
    assert!(!stdout.contains("file: "), "{stdout}");
    assert!(!stdout.contains("dir: "), "{stdout}");
    assert!(stdout.contains("set=0\nrecorded: hybrid"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Rollback through the CLI's default backend: an old copy restored, or the file deleted,
/// is exit 5 on every command, and nothing is written anywhere else; `secret reset`
/// starts over and says what it removed.
#[test]
fn a_rolled_back_default_store_is_exit_5_until_reset() {
    if !keyring_tools() {
        return;
    }
    let dir = scratch("cli-rollback");
    let out = in_keyring_session(
        &dir,
        "H=\"$HOME/data/app/hybrid.hearth\"; \
         printf old | \"$HEARTH\" secret set app::k || exit 10; cp -p \"$H\" \"$HOME/old\"; \
         printf new | \"$HEARTH\" secret set app::k || exit 11; \
         cp -p \"$HOME/old\" \"$H\"; \
         \"$HEARTH\" secret get app::k; echo \"restored-get=$?\"; \
         printf x | \"$HEARTH\" secret set app::k2; echo \"restored-set=$?\"; \
         rm \"$H\"; \
         \"$HEARTH\" secret get app::k; echo \"deleted-get=$?\"; \
         printf x | \"$HEARTH\" secret set app::k2; echo \"deleted-set=$?\"; \
         \"$HEARTH\" secret list app; echo \"deleted-list=$?\"; \
         cp -p \"$HOME/old\" \"$H\"; \
         \"$HEARTH\" secret get app::k; echo \"again-get=$?\"; \
         find \"$HOME/data\" \"$HOME/config\" -type f -not -path '*/keyrings/*' | sed 's/^/file: /'; \
         \"$HEARTH\" secret reset --app app; echo \"reset=$?\"; \
         \"$HEARTH\" secret get app::k; echo \"after-reset-get=$?\"; \
         printf fresh | \"$HEARTH\" secret set app::k; \"$HEARTH\" secret get app::k; echo",
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    for step in [
        "restored-get=5",
        "restored-set=5",
        "deleted-get=5",
        "deleted-set=5",
        "deleted-list=5",
        "again-get=5",
        "reset=0",
        "after-reset-get=3",
    ] {
        assert!(stdout.contains(step), "{step}: {stdout}\n{stderr}");
    }
    assert!(stderr.contains("rolled back"), "{stderr}");
    // Only the hybrid file and the marker: no vault was started beside them.
    let files: Vec<&str> = stdout.lines().filter(|l| l.starts_with("file: ")).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files.iter().any(|f| f.ends_with("data/app/hybrid.hearth")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("data/app/backend")),
        "{files:?}"
    );
    assert!(stdout.contains("removed "), "{stdout}");
    assert!(stdout.trim_end().ends_with("fresh"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An app whose hybrid store exists, started while the login keyring is locked: every
/// command says Locked (exit 6) and nothing is written anywhere, in particular no vault.
#[test]
fn a_locked_keyring_with_an_existing_hybrid_store_is_exit_6_and_writes_nothing() {
    if !keyring_tools() {
        return;
    }
    let dir = scratch("locked-existing");
    let out = in_keyring_session(
        &dir,
        "printf s | \"$HEARTH\" secret set app::k || exit 10; \
         secret-tool lock --collection=login >/dev/null 2>&1; \
         before=$(find \"$HOME/data\" \"$HOME/config\" -type f -not -path '*/keyrings/*' | sort | xargs sha256sum); \
         \"$HEARTH\" secret get --timeout 3 app::k; echo \"get=$?\"; \
         printf t | \"$HEARTH\" secret set --timeout 3 app::k2; echo \"set=$?\"; \
         \"$HEARTH\" secret list --timeout 3 app; echo \"list=$?\"; \
         after=$(find \"$HOME/data\" \"$HOME/config\" -type f -not -path '*/keyrings/*' | sort | xargs sha256sum); \
         [ \"$before\" = \"$after\" ] && echo unchanged; \
         find \"$HOME\" -name vault.hearth | sed 's/^/vault: /'",
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    for step in ["get=6", "set=6", "list=6", "unchanged"] {
        assert!(stdout.contains(step), "{step}: {stdout}\n{stderr}");
    }
    assert!(!stdout.contains("vault: "), "{stdout}");
    assert!(stderr.contains("locked"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// First uses racing on a fresh HOME, half from the desktop session (D-Bus, a keyring) and
/// half as from an SSH login (no D-Bus: only the vault can exist there). Whichever records
/// its choice first decides for all: every `set` that succeeded is in that one store, and
/// the others fail without writing anywhere else.
#[test]
fn racing_first_uses_from_two_sessions_end_in_one_store() {
    if !keyring_tools() {
        return;
    }
    for round in 0..3 {
        let dir = scratch(&format!("first-race-{round}"));
        let script = "mkdir -p \"$HOME/no-runtime\"; \
             for p in 1 2 3 4 5 6; do ( \
               if [ $((p % 2)) = 0 ]; then \
                 run() { env -u DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR=\"$HOME/no-runtime\" \"$HEARTH\" \"$@\"; }; \
               else run() { \"$HEARTH\" \"$@\"; }; fi; \
               for i in 1 2 3; do printf \"v$p-$i\" | run secret set --timeout 60 app::p$p::k$i 2>/dev/null \
                 && echo \"ok $p $i\"; done ) & done; wait; \
             for p in 1 2 3 4 5 6; do for i in 1 2 3; do \
               v=$(\"$HEARTH\" secret get --timeout 60 app::p$p::k$i 2>/dev/null) && echo \"got $p $i $v\"; \
             done; done; \
             echo listed=$(\"$HEARTH\" secret list --timeout 60 app | wc -l); \
             find \"$HOME/data\" \"$HOME/config\" -type f -not -path '*/keyrings/*' \
               -name '*.hearth' | sed 's/^/store: /'";
        let out = in_keyring_session_for(&dir, script, 300);
        let stdout = text(&out.stdout);
        let ok: Vec<(String, String)> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("ok "))
            .map(|l| {
                let (p, i) = l.split_once(' ').unwrap();
                (p.to_owned(), i.to_owned())
            })
            .collect();
        assert!(
            !ok.is_empty(),
            "no set succeeded: {stdout}\n{}",
            text(&out.stderr)
        );
        for (p, i) in &ok {
            assert!(
                stdout.contains(&format!("got {p} {i} v{p}-{i}\n")),
                "round {round}: set {p} {i} succeeded but is not in the store that stands:\n{stdout}"
            );
        }
        assert!(
            stdout.contains(&format!("listed={}\n", ok.len())),
            "round {round}: {stdout}"
        );
        let stores = stdout.lines().filter(|l| l.starts_with("store: ")).count();
        assert!(stores <= 2, "round {round}: {stdout}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
