//! hearth gate's TOML configuration on arbitrary input: never a panic; an error names a
//! line that exists in the input; a config that parses can be given listen/upstream.
#![no_main]

use hearth_gate::{Config, Error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse("fuzz.toml", text) {
        Ok(config) => {
            let _ = config.listen_addr();
            let _ = config.audit_file();
            let _ = config.with_upstream("http://127.0.0.1:9");
        }
        Err(Error::Config { line, column, message, .. }) => {
            assert!(line >= 1 && line <= text.lines().count() + 1, "line {line}");
            assert!(column >= 1);
            assert!(!message.is_empty() && !message.contains('\n'), "{message:?}");
        }
        Err(other) => panic!("a parse error that is not a Config error: {other}"),
    }
});
