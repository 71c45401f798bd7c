//! Compile-time misuse: each file in `tests/ui/` is one mistake, named after it, and its
//! `.stderr` pins the message the user sees.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
