//! Helpers of the ingest integration tests: reading a file item by item; the shared test data
//! comes from `canhgac-testsupport`.

use std::path::Path;

use canhgac_ingest::{DecodeError, Decoded, FileReader, Format, Item, ReadOptions};
pub use canhgac_testsupport::{data, data_dir};

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
