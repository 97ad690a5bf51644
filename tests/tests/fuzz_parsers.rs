//! A short fuzzing session in CI; `fuzz_parsers` runs the long one.

#[test]
fn random_inputs_never_panic_and_valid_specs_always_run() {
    let tally =
        cronlock_tests::fuzz::run(0xC0FFEE, 10_000).unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(tally.cases, 10_000);
    assert!(
        tally.valid_specs > 100,
        "the generator must reach valid specs too: {tally:?}"
    );
}
