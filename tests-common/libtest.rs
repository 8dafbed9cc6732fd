//! For test files with their own `main` (`harness = false`): run named checks, catching
//! panics, and print libtest-style lines so `scripts/test` counts them with the rest.

/// A named check taking the shared context.
pub(crate) type Check<'a, T> = (&'a str, fn(&T));

/// Runs each check with `ctx`, prints `test NAME ... ok|FAILED` and the summary line, and
/// returns how many failed.
pub(crate) fn run<T: ?Sized>(checks: &[Check<'_, T>], ctx: &T) -> usize {
    println!("\nrunning {} tests", checks.len());
    let mut failed = 0;
    for (name, check) in checks {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(ctx))).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        failed += usize::from(!ok);
    }
    let passed = checks.len() - failed;
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    failed
}
