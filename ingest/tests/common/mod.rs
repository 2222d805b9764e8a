//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use canhgac_ingest::{DecodeError, Decoded, FileReader, Format, Item, ReadOptions};

/// `../shared/data` next to the repository; panics with the path when it is missing.
pub fn data_dir() -> PathBuf {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"));
    assert!(
        dir.is_dir(),
        "test data not found at {} (the shared data folder must sit next to the repository)",
        dir.display()
    );
    dir.to_path_buf()
}

pub fn data(rel: &str) -> PathBuf {
    let p = data_dir().join(rel);
    assert!(p.exists(), "missing test data file {}", p.display());
    p
}

/// Every item of a file.
pub struct Read {
    pub format: Format,
    pub events: Vec<(u64, u64, Decoded)>,
    pub errors: Vec<(u64, u64, DecodeError)>,
}

pub fn read(path: &Path, format: Format) -> Read {
    let opts = ReadOptions::default().format(format);
    let mut reader = FileReader::open(path, &opts).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Read {
        format: reader.format(),
        events: Vec::new(),
        errors: Vec::new(),
    };
    while let Some(item) = reader.next_item().unwrap_or_else(|e| panic!("{e}")) {
        match item {
            Item::Event {
                offset,
                line,
                decoded,
                ..
            } => out.events.push((offset, line, *decoded)),
            Item::Error {
                offset,
                line,
                error,
                ..
            } => out.errors.push((offset, line, error)),
        }
    }
    out
}

/// Reads with auto-detection and checks the detected format and that nothing failed.
pub fn read_clean(rel: &str, expected: Format) -> Read {
    let path = data(rel);
    let r = read(&path, Format::Auto);
    assert_eq!(r.format, expected, "{rel}: detected format");
    let first: Vec<String> = r
        .errors
        .iter()
        .take(5)
        .map(|(_, line, e)| canhgac_ingest::render_error(rel, *line, e))
        .collect();
    assert!(
        r.errors.is_empty(),
        "{rel}: {} errors, first: {first:#?}",
        r.errors.len()
    );
    r
}
