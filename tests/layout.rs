//! The test layout: each crate has one integration-test binary (`tests/tests.rs`, cargo's
//! automatic discovery turned off), so a new file in a `tests/` folder runs only once that file
//! declares it. This fails when one is left out.

use std::path::Path;

#[test]
fn every_test_file_is_a_module_of_its_crates_test_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    let mut crates = 0;
    for dir in std::fs::read_dir(root).unwrap() {
        let tests = dir.unwrap().path().join("tests");
        if !tests.join("tests.rs").is_file() {
            continue;
        }
        crates += 1;
        check(&tests, &mut missing);
    }
    check(&root.join("tests"), &mut missing);
    assert!(
        crates >= 7,
        "found only {crates} crates with tests/tests.rs"
    );
    assert!(
        missing.is_empty(),
        "test files no tests.rs declares: {missing:#?}"
    );
}

/// Every `X.rs` and `X/mod.rs` of `tests` must be `mod X;` in its `tests.rs`.
fn check(tests: &Path, missing: &mut Vec<String>) {
    let main = std::fs::read_to_string(tests.join("tests.rs")).unwrap();
    for e in std::fs::read_dir(tests).unwrap() {
        let p = e.unwrap().path();
        let name = match p.file_stem().and_then(|s| s.to_str()) {
            Some(n) => n.to_string(),
            None => continue,
        };
        let is_module = (p.extension().is_some_and(|x| x == "rs") && name != "tests")
            || (p.is_dir() && p.join("mod.rs").is_file());
        if is_module && !main.lines().any(|l| l.trim() == format!("mod {name};")) {
            missing.push(p.display().to_string());
        }
    }
}
