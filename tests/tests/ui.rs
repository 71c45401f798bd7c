//! Compile-time misuse: each file in `tests/ui/` is one mistake, named after it, and its
//! `.stderr` pins the message the user sees.

/// The `.stderr` files pin the messages of a build with every backend: the list of types
/// implementing a trait that rustc prints depends on which backends are compiled in, so the
/// cases run with all three (as the README's test command and CI do).
#[test]
#[cfg(all(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
