//! Property tests of the framer: random records and random read sizes never lose or
//! duplicate bytes.

use std::io::BufReader;

use canhgac_ingest::{ErrorKind, Frame, Framer, FramerConfig, Framing};
use proptest::prelude::*;

/// Every frame as (offset, line, Ok(bytes) | Err(kind)).
fn frames(
    input: &[u8],
    cfg: FramerConfig,
    cap: usize,
) -> Vec<(u64, u64, Result<Vec<u8>, ErrorKind>)> {
    let mut f = Framer::new(BufReader::with_capacity(cap, input), cfg);
    let mut out = Vec::new();
    while let Some(frame) = f.next_frame().unwrap() {
        out.push(match frame {
            Frame::Record(r) => (r.offset, r.line, Ok(r.bytes.to_vec())),
            Frame::Error(e) => (e.offset, e.line, Err(e.error.kind)),
        });
    }
    out
}

fn lines() -> FramerConfig {
    FramerConfig::new(Framing::Lines)
}

fn json() -> FramerConfig {
    FramerConfig::new(Framing::JsonValues)
}

fn lines_cfg(max: usize) -> FramerConfig {
    lines().max_record_len(max)
}

proptest! {
    #[test]
    fn lines_never_lose_or_duplicate_bytes(
        lines in proptest::collection::vec("[a-z\\r]{0,40}", 0..30),
        cap in 1usize..64,
        max in 1usize..50,
        final_newline in any::<bool>(),
    ) {
        let mut input = lines.join("\n");
        if final_newline { input.push('\n'); }
        let bytes = input.as_bytes();
        let got = frames(bytes, lines_cfg(max), cap);
        // Expected: each line (CR before LF trimmed), empty ones skipped.
        let mut expected = Vec::new();
        let mut off = 0usize;
        for (i, l) in input.split('\n').enumerate() {
            let body = l.strip_suffix('\r').unwrap_or(l);
            if !body.is_empty() {
                let r = if body.len() > max { Err(ErrorKind::TooLong) } else { Ok(body.as_bytes().to_vec()) };
                expected.push((off as u64, i as u64 + 1, r));
            }
            off += l.len() + 1;
        }
        prop_assert_eq!(&got, &expected);
        for (o, _, r) in &got {
            if let Ok(b) = r {
                prop_assert_eq!(&bytes[*o as usize..*o as usize + b.len()], &b[..]);
            }
        }
    }

    #[test]
    fn json_values_round_trip(
        values in proptest::collection::vec(
            proptest::collection::btree_map("[a-z{}\\[\\]\"\\\\ ]{0,6}", "[ -~]{0,12}", 0..5), 0..8),
        pretty in proptest::collection::vec(any::<bool>(), 8),
        cap in 1usize..64,
    ) {
        let mut input = String::new();
        let mut starts = Vec::new();
        for (i, v) in values.iter().enumerate() {
            starts.push(input.len() as u64);
            let text = if pretty[i] { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) };
            input.push_str(&text.unwrap());
            input.push_str(if i % 2 == 0 { "\n" } else { " \n\n" });
        }
        let got = frames(input.as_bytes(), json(), cap);
        prop_assert_eq!(got.len(), values.len());
        for ((g, v), s) in got.iter().zip(&values).zip(&starts) {
            prop_assert_eq!(g.0, *s);
            let bytes = g.2.clone().unwrap();
            let back: std::collections::BTreeMap<String, String> = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(&back, v);
        }
    }

    #[test]
    fn json_framer_never_panics(input in proptest::collection::vec(any::<u8>(), 0..300), cap in 1usize..32) {
        let _ = frames(&input, json().max_record_len(64), cap);
        let _ = frames(&input, lines().max_record_len(16), cap);
    }
}
