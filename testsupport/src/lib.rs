//! Test scaffolding shared by the integration tests of every crate (a dev-dependency only,
//! never published): where the shared test data is, the guard that keeps heavy tests from
//! running at the same time, free loopback ports, golden-file comparison and, with the
//! `broker` feature, a real Tansu broker and a topic reader.
//!
//! Each crate has one integration-test binary (`tests/tests.rs`, one module per subject) and
//! one `tests/support` module for its own helpers; what two crates need lives here.

#[cfg(feature = "broker")]
pub mod broker;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The repository's root folder (the workspace), whichever crate's test asks.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testsupport/ sits in the repository")
        .to_path_buf()
}

/// A path inside the repository (`rules/sigma`, `deploy`…).
pub fn repo(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

/// The shared third-party test data (`../shared/data` beside the repository); panics with the
/// path when it is missing.
pub fn data_dir() -> PathBuf {
    let dir = repo_root().join("../shared/data");
    assert!(
        dir.join("README.md").exists(),
        "test data missing: expected {} (the shared data folder beside the repository)",
        dir.display()
    );
    dir
}

/// A file or folder of the shared test data; panics with the path when it is missing.
pub fn data(rel: &str) -> PathBuf {
    let p = data_dir().join(rel);
    assert!(p.exists(), "missing test data file {}", p.display());
    p
}

/// Serialises the heavy tests of one test binary (a real broker, `canhgac run`, the chaos test,
/// a browser): take it first thing in the test and hold it to the end. The tests of a binary
/// run on parallel threads; two heavy ones at a time overload a small machine and miss their
/// deadlines. A test that panicked while holding it does not block the others.
pub fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Compares `actual` with the golden file at `path`; `CANHGAC_UPDATE_GOLDEN=1` writes it instead.
pub fn golden(path: &Path, actual: &str) {
    if std::env::var_os("CANHGAC_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (CANHGAC_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    assert_eq!(actual, expected, "{name} differs from the golden file");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_survives_a_panicking_holder() {
        let _ = std::thread::spawn(|| {
            let _g = heavy();
            panic!("a heavy test failed");
        })
        .join();
        drop(heavy());
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }
}
