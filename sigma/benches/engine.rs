//! Whole SigmaHQ corpus over the 8,255 events of EVTX-ATTACK-SAMPLES, on one core:
//! evaluation of pre-parsed events, JSON text → Event → evaluation, and corpus load.
//! (`scripts/bench-sigma.sh`, through `detect/benches/measure.rs`, reports RSS and load time as well.)

use std::io::Read;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use canhgac_sigma::{EngineBuilder, Mappings};

fn data() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(d.is_dir(), "test data missing: expected {}", d.display());
    d
}

fn build() -> canhgac_sigma::Engine {
    let mut b = EngineBuilder::new(Mappings::builtin());
    for f in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
    ] {
        b.add_path(&data().join("sigma/rules").join(f)).unwrap();
    }
    b.build().0
}

fn bench(c: &mut Criterion) {
    let engine = build();
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(data().join("windows/evtx-attack-samples.jsonl.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let now = chrono::Utc::now();
    let to_event = |i: usize, l: &str| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        canhgac_sigma::testsuite::record_to_event(v, "bench", i as u64, l.as_bytes(), now)
    };
    let events: Vec<_> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| to_event(i, l))
        .collect();
    let mut scratch = engine.scratch();
    let mut out = Vec::new();

    let mut g = c.benchmark_group("sigma_corpus");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("eval_preparsed", |b| {
        b.iter(|| {
            let mut n = 0;
            for e in &events {
                out.clear();
                engine.eval(e, &mut scratch, &mut out);
                n += out.len();
            }
            n
        })
    });
    g.bench_function("decode_and_eval", |b| {
        b.iter(|| {
            let mut n = 0;
            for (i, l) in lines.iter().enumerate() {
                let e = to_event(i, l);
                out.clear();
                engine.eval(&e, &mut scratch, &mut out);
                n += out.len();
            }
            n
        })
    });
    g.finish();
    let mut g = c.benchmark_group("sigma_load");
    g.sample_size(10);
    g.bench_function("whole_corpus", |b| b.iter(build));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
