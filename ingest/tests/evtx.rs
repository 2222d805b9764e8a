//! Raw `.evtx` files give exactly the JSON of `evtx_dump -o jsonl`, and a corrupt chunk
//! costs only that chunk.

use std::io::BufRead;

use crate::support::{data, data_dir};
use canhgac_ingest::{
    DecoderOptions, ErrorKind, EvtxItem, EvtxOptions, EvtxReader, FileReader, Format, Item,
    ReadOptions,
};
use serde_json::Value;

/// The JSONL lines of one source file, per the index.
fn expected_events(source: &str) -> Vec<Value> {
    let index = std::fs::read_to_string(data("windows/evtx-attack-samples.index.tsv")).unwrap();
    let row = index
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols[3] == source)
        .unwrap_or_else(|| panic!("{source} not in the index"));
    let (first, last): (usize, usize) = (row[0].parse().unwrap(), row[1].parse().unwrap());
    let file = std::fs::File::open(data("windows/evtx-attack-samples.jsonl.gz")).unwrap();
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    reader
        .lines()
        .skip(first - 1)
        .take(last - first + 1)
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

fn evtx_files() -> Vec<(String, std::path::PathBuf)> {
    let root = data_dir().join("windows/evtx");
    let mut out = Vec::new();
    for tactic in std::fs::read_dir(&root).unwrap() {
        let tactic = tactic.unwrap().path();
        let mut stack = vec![tactic];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "evtx") {
                    let rel = p
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    out.push((rel, p));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn raw_evtx_matches_evtx_dump_jsonl() {
    let files = evtx_files();
    assert_eq!(files.len(), 16);
    let mut total = 0;
    for (rel, path) in &files {
        let expected = expected_events(rel);
        let reader =
            EvtxReader::open(path, EvtxOptions::default(), &DecoderOptions::default()).unwrap();
        let mut got = Vec::new();
        let mut last_id = 0;
        for item in reader {
            match item {
                EvtxItem::Record {
                    record_id,
                    ordinal,
                    decoded,
                } => {
                    // Record numbers from the record headers; exported logs renumber them from 1
                    // while System.EventRecordID keeps the original ids.
                    assert_eq!(ordinal as usize, got.len() + 1);
                    assert!(record_id > last_id, "{rel}: record numbers increase");
                    last_id = record_id;
                    got.push(decoded);
                }
                EvtxItem::Error { error, .. } => panic!("{rel}: {error}"),
            }
        }
        assert_eq!(got.len(), expected.len(), "{rel}");
        for (i, (d, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(&d.original, e, "{rel}: record {}", i + 1);
            assert!(
                d.timestamp.is_some() && d.ecs.event_code.is_some(),
                "{rel}: record {}",
                i + 1
            );
        }
        // Auto-detection and the file reader agree.
        let mut fr = FileReader::open(path, &ReadOptions::default()).unwrap();
        assert_eq!(fr.format(), Format::Evtx, "{rel}");
        let mut n = 0;
        while let Some(item) = fr.next_item().unwrap() {
            assert!(matches!(item, Item::Event { .. }), "{rel}");
            n += 1;
        }
        assert_eq!(n, expected.len(), "{rel}");
        total += got.len();
    }
    assert_eq!(total, 212);
}

#[test]
fn corrupt_chunk_is_reported_and_the_rest_is_read() {
    // The multi-chunk file: corrupt the magic of its first chunk in a copy.
    let src = data("windows/evtx/Defense Evasion/DE_1102_security_log_cleared.evtx");
    let mut bytes = std::fs::read(&src).unwrap();
    let chunks = (bytes.len() - 4096) / 65536;
    assert!(chunks >= 2, "{chunks} chunks");
    let clean: Vec<u64> = EvtxReader::from_bytes(
        "clean",
        bytes.clone(),
        EvtxOptions::default(),
        &DecoderOptions::default(),
    )
    .unwrap()
    .map(|i| match i {
        EvtxItem::Record { record_id, .. } => record_id,
        EvtxItem::Error { error, .. } => panic!("{error}"),
    })
    .collect();
    assert_eq!(clean.len(), 112);
    bytes[4096..4096 + 8].copy_from_slice(b"XXXXXXXX");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.evtx");
    std::fs::write(&path, &bytes).unwrap();
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for item in EvtxReader::open(&path, EvtxOptions::default(), &DecoderOptions::default()).unwrap()
    {
        match item {
            EvtxItem::Record { record_id, .. } => records.push(record_id),
            EvtxItem::Error { chunk, error, .. } => errors.push((chunk, error)),
        }
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].1.kind, ErrorKind::CorruptChunk);
    assert!(
        errors[0].1.message.contains("chunk"),
        "{}",
        errors[0].1.message
    );
    assert!(!records.is_empty(), "the other chunks are still read");
    assert!(records.len() < clean.len());
    // Every record read is one of the clean file's, in the same order.
    let tail = &clean[clean.len() - records.len()..];
    assert_eq!(records, tail);
    // Through the file reader the error carries the chunk's byte offset.
    let mut fr = FileReader::open(&path, &ReadOptions::default()).unwrap();
    let mut first_error = None;
    while let Some(item) = fr.next_item().unwrap() {
        if let Item::Error { offset, error, .. } = item {
            first_error.get_or_insert((offset, error.kind));
        }
    }
    assert_eq!(first_error, Some((4096, ErrorKind::CorruptChunk)));
}

#[test]
fn not_an_evtx_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.evtx");
    std::fs::write(&path, b"not evtx at all").unwrap();
    let err = EvtxReader::open(&path, EvtxOptions::default(), &DecoderOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("x.evtx"), "{err}");
}
