//! Compile-time checks of `#[scheduled]`: every mistake is a readable error.
//!
//! Regenerate the `.stderr` snapshots after an intended change with
//! `TRYBUILD=overwrite cargo test -p cronlock-tests --test ui`, then read them.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/*.rs");
}
