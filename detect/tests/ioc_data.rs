//! IOC lists over the real data of `../shared/data/intel/`, loaded through the repository's
//! own definitions (`rules/ioc/*.yaml`), with exact counts.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use canhgac_core::{Ecs, Event};
use canhgac_detect::ioc::{IocLoader, IocSet, ListFormat, ListReport, WarninglistType};
use serde_json::json;

fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(
        dir.join("intel").is_dir(),
        "test data missing: expected the shared data directory at {} (see BRIEF §8)",
        dir.display()
    );
    dir.canonicalize().expect("data dir")
}

fn rules_ioc() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/ioc")
}

fn loader() -> IocLoader {
    IocLoader::new().var("CANHGAC_DATA", data_dir().display().to_string())
}

fn load(def: &str) -> (IocSet, ListReport) {
    let mut l = loader();
    l.add_path(&rules_ioc().join(def)).unwrap();
    let (set, mut reports) = l.build();
    (set, reports.remove(0))
}

fn event(ecs: Ecs) -> Event {
    let mut ev: Event = serde_json::from_value(json!({
        "v": 1, "id": "00000000000000000000000000000000", "agency": "a", "sensor": "s",
        "dataset": "json", "@timestamp": "2024-04-01T00:00:00Z",
        "received": "2024-04-01T00:00:00Z", "source": {"kind": "file", "name": "t"},
        "original": {}
    }))
    .unwrap();
    ev.ecs = ecs;
    ev
}

/// Line counts of a trail directory by shell-independent reading: (lines, `#` lines, blank).
fn line_counts(dir: &Path) -> (u64, u64, u64) {
    let (mut lines, mut comments, mut blank) = (0, 0, 0);
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for l in text.lines() {
            lines += 1;
            if l.trim().is_empty() {
                blank += 1;
            } else if l.trim_start().starts_with('#') {
                comments += 1;
            }
        }
    }
    (lines, comments, blank)
}

#[test]
fn maltrail_malicious() {
    let t = std::time::Instant::now();
    let (set, r) = load("maltrail-malicious.yaml");
    eprintln!(
        "maltrail malicious loaded in {:?}: {:?}",
        t.elapsed(),
        set.stats()
    );
    assert_eq!(r.files, 127);
    // The data README's 182,356 "indicators" are the 191,834 lines minus the 9,478 lines that
    // start with `#`: they include 13,082 blank lines and one indented comment
    // (` # Masterlist`). What is left is 169,273 indicator lines.
    let (lines, comments, blank) = line_counts(&data_dir().join("intel/maltrail/malicious"));
    assert_eq!((lines, comments, blank), (191_834, 9_479, 13_082));
    assert_eq!(lines - 9_478, 182_356);
    assert_eq!(r.records, 169_273);
    assert_eq!(r.comments, comments + blank);
    // One line is no indicator at all: `registry.12913298` (ek_clearfake-1.txt:11141).
    assert_eq!(r.skipped, 1, "{:#?}", r.warnings);
    assert_eq!(r.warnings[0].location, "line 11141");
    assert_eq!(r.indicators, 169_272);
    let kinds: BTreeMap<&str, u64> = r.by_kind.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            // 104,430 bare names less `registry.12913298` and 3 regex trails, plus
            // `http://52jfg.xyz`
            ("domain", 104_427),
            // `\b(atztds|mtxtds)[0-9a-z]+\.(world|xyz)`, `q(l|r)[0-9]{5,6}\.pw`, …
            ("domain-regex", 3),
            // 13 bare, 9,533 written `http://IP` (a URL without path is its host, as in maltrail)
            ("ip", 9_546),
            // 50,349 IPv4 and 5 [IPv6]:port
            ("ip-port", 50_354),
            // host/path, with or without scheme
            ("url", 346),
            ("url-path", 4_596),
        ]),
    );
    // 1,741 duplicates: 1,733 lines repeat another verbatim (mostly one trail in two
    // families), 8 more differ only in case, scheme or trailing slash (`13.114.203.227` and
    // `http://13.114.203.227`, `/Second.hta` and `/second.hta`).
    assert_eq!(r.distinct, 167_531);
    assert_eq!(set.stats().indicators, 167_531);
}

#[test]
fn maltrail_malicious_indicators_match_themselves() {
    let (set, _) = load("maltrail-malicious.yaml");
    let dir = data_dir().join("intel/maltrail/malicious");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // Lines are compared as the loader normalises them (case, scheme, trailing `/`), since a
    // duplicate keeps the first spelling.
    let norm = |s: &str| {
        let s = s.to_ascii_lowercase();
        let s = s.strip_prefix("http://").unwrap_or(&s).to_string();
        let s = s.strip_prefix("https://").unwrap_or(&s).to_string();
        s.trim_end_matches('/').to_string()
    };
    let (mut checked, mut regexes, mut missed) = (0, 0, Vec::new());
    let mut out = Vec::new();
    for f in files {
        let family = f.file_stem().unwrap().to_str().unwrap().to_string();
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v = line.split(" #").next().unwrap().trim();
            if v.is_empty() || v.starts_with('#') || v == "registry.12913298" {
                continue;
            }
            let mut ecs = Ecs::default();
            if v.contains('\\') || v.contains("]{") || v.contains("](") {
                regexes += 1;
                continue;
            }
            if let Ok(sa) = v.parse::<SocketAddr>() {
                ecs.destination_ip = Some(sa.ip());
                ecs.destination_port = Some(sa.port());
            } else if let Ok(ip) = v.parse::<IpAddr>() {
                ecs.destination_ip = Some(ip);
            } else if v.starts_with('/') {
                ecs.url_full = Some(format!("http://host.invalid{v}"));
            } else if v.contains("://") {
                ecs.url_full = Some(v.to_string());
            } else if v.contains('/') {
                ecs.url_full = Some(format!("http://{v}"));
            } else {
                ecs.dns_question_name = Some(format!("www.{v}"));
            }
            out.clear();
            set.matches(&event(ecs), &mut out);
            checked += 1;
            let found = out.iter().any(|m| {
                norm(&m.hit.indicator) == norm(v)
                    && m.family.as_deref().unwrap().contains(family.as_str())
            });
            if !found {
                missed.push(format!("{family}: {v} -> {out:?}"));
            }
        }
    }
    assert_eq!((checked, regexes), (169_269, 3));
    assert!(
        missed.is_empty(),
        "{} missed, first: {:#?}",
        missed.len(),
        &missed[..missed.len().min(5)]
    );
}

#[test]
fn maltrail_malware() {
    let (set, r) = load("maltrail-malware.yaml");
    assert_eq!(r.files, 100);
    assert_eq!(r.records, 115);
    assert_eq!(r.skipped, 0, "{:#?}", r.warnings);
    let kinds: BTreeMap<&str, u64> = r.by_kind.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("domain", 67),
            ("ip", 28),
            ("ip-port", 13),
            ("url", 4),
            ("url-path", 3)
        ])
    );
    assert_eq!(r.distinct, 115);
    let mut out = Vec::new();
    set.matches(
        &event(Ecs {
            dns_question_name: Some("deyrep24.ddns.net".into()),
            ..Default::default()
        }),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].hit.list, "maltrail-malware: adzok");
}

#[test]
fn eset_misp_events() {
    let (set, r) = load("eset-misp.yaml");
    assert_eq!(r.files, 10);
    assert_eq!(r.records, 1_360);
    let types: BTreeMap<&str, u64> = r
        .source_types
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        types,
        BTreeMap::from([
            ("btc", 9),
            ("dash", 1),
            ("domain", 364),
            ("domain|ip", 4),
            ("filename", 102),
            ("filename|sha1", 6),
            ("ip-dst", 48),
            ("link", 4),
            ("md5", 197),
            ("other", 53),
            ("regkey", 1),
            ("sha1", 253),
            ("sha256", 197),
            ("text", 49),
            ("uri", 1),
            ("url", 65),
            ("user-agent", 1),
            ("vulnerability", 2),
            ("windows-scheduled-task", 2),
            ("xmr", 1),
        ]),
        "22 of these are in Event.Object[] (cloudmensis: 3 of each hash); the data README's \
         per-type figures count Event.Attribute[] only"
    );
    assert_eq!(r.skipped, 0, "{:#?}", r.warnings);
    // require_to_ids: false loads every matchable attribute except references.
    let kinds: BTreeMap<&str, u64> = r.by_kind.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            // 364 domain + 4 domain|ip + 5 host-only url values
            ("domain", 373),
            // 48 ip-dst + 4 domain|ip
            ("ip", 52),
            ("md5", 197),
            // 253 sha1 + 6 filename|sha1
            ("sha1", 259),
            ("sha256", 197),
            // the 59 url values with a path (the 65th is a report link)
            ("url", 59),
            // uri
            ("url-path", 1),
        ])
    );
    // 4 `link` attributes and PowerPool's blog URL.
    assert_eq!(r.not_matchable["category External analysis"], 5);
    assert_eq!(set.stats().lists, 1);

    // The same events with to_ids honoured (the default).
    let mut l = loader();
    l.add_definition_str(
        "id: eset-ids\ntitle: ESET, to_ids only\nkind: malware\nformat: misp-json\n\
         path: ${CANHGAC_DATA}/intel/eset-misp\n",
        &rules_ioc().join("eset-ids.yaml"),
    )
    .unwrap();
    let (_, reports) = l.build();
    let r = &reports[0];
    assert_eq!(r.not_ids, 758);
    let kinds: BTreeMap<&str, u64> = r.by_kind.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("domain", 274),
            ("ip", 44),
            ("md5", 93),
            ("sha1", 99),
            ("sha256", 93)
        ])
    );

    // A campaign label on a match.
    let mut out = Vec::new();
    set.matches(
        &event(Ecs {
            file_hash_md5: Some("B2B51A85BDAD70FF19534CD013C07F24".into()),
            ..Default::default()
        }),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].hit.list,
        "eset-misp: Ramsay: A cyber espionage toolkit tailored for Air-Gapped Networks"
    );
    assert_eq!(out[0].hit.indicator_type, "hash");
}

#[test]
fn all_warninglists_load_with_their_types() {
    let (set, r) = load("misp-warninglists.yaml");
    assert_eq!(r.files, 10);
    assert_eq!(r.skipped, 0, "{:#?}", r.warnings);
    let got: Vec<(String, usize)> = r
        .warninglists
        .iter()
        .map(|(_, ty, n)| (ty.clone(), *n))
        .collect();
    let want = [
        ("substring", 26),
        ("regex", 1),
        ("string", 69),
        ("string", 6),
        ("cidr", 3),
        ("cidr", 15),
        ("cidr", 107),
        ("string", 1_438),
        ("hostname", 255),
        ("hostname", 234),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(t, n)| (t.to_string(), *n))
            .collect::<Vec<_>>()
    );
    let s = set.suppressions();
    assert_eq!(s.len(), 10);
    assert_eq!(s[0].ty, WarninglistType::Substring);
    assert!(s
        .iter()
        .all(|x| x.count == 0 && x.list == "misp-warninglists"));
    assert_eq!(set.lists()[0].format, ListFormat::Warninglist);
}

/// Each warninglist, loaded alone, suppresses what its type says: an indicator list built to
/// hit it matches without the warninglist and is suppressed with it.
#[test]
fn each_warninglist_behaves_per_type() {
    let ecs = |f: &dyn Fn(&mut Ecs)| {
        let mut e = Ecs::default();
        f(&mut e);
        e
    };
    let cases: Vec<(&str, &str, Ecs)> = vec![
        // substring, on URLs
        (
            "automated-malware-analysis",
            "app.any.run",
            ecs(&|e| e.url_full = Some("https://app.any.run/tasks/1".into())),
        ),
        // regex, on e-mail addresses
        (
            "common-contact-emails",
            "abuse@corp.example",
            ecs(&|e| e.email_from = Some("Abuse@corp.example".into())),
        ),
        // string, on hashes (case-insensitive)
        (
            "common-ioc-false-positive",
            "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b",
            ecs(&|e| {
                e.file_hash_sha256 =
                    Some("01BA4719C80B6FE911B091A7C05124B64EEECE964E09C058EF8F9805DACA546B".into())
            }),
        ),
        (
            "empty-hashes",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            ecs(&|e| e.related.hash = vec!["da39a3ee5e6b4b0d3255bfef95601890afd80709".into()]),
        ),
        // cidr, on IPs matched by CIDR or address indicators
        (
            "rfc1918",
            "192.168.0.0/16",
            ecs(&|e| e.source_ip = Some("192.168.7.7".parse().unwrap())),
        ),
        (
            "rfc5735",
            "198.18.0.5",
            ecs(&|e| e.source_ip = Some("198.18.0.5".parse().unwrap())),
        ),
        (
            "sinkholes",
            "104.244.13.1:443",
            ecs(&|e| {
                e.destination_ip = Some("104.244.13.1".parse().unwrap());
                e.destination_port = Some(443);
            }),
        ),
        // hostname, on domains and URLs (subdomains included)
        (
            "url-shortener",
            "tinyurl.com",
            ecs(&|e| e.dns_question_name = Some("www.tinyurl.com".into())),
        ),
        (
            "whats-my-ip",
            "icanhazip.com/x",
            ecs(&|e| e.url_full = Some("http://icanhazip.com/x".into())),
        ),
    ];
    let dir = data_dir().join("intel/misp-warninglists");
    for (name, indicator, event_ecs) in cases {
        let mut out = Vec::new();
        let mut plain = IocLoader::new();
        plain
            .add_text("probe", "malware", ListFormat::Plain, indicator)
            .unwrap();
        let (set, _) = plain.build();
        assert_eq!(set.matches(&event(event_ecs.clone()), &mut out), 0);
        assert_eq!(
            out.len(),
            1,
            "{name}: the probe matches without the warninglist"
        );

        let mut l = IocLoader::new();
        l.add_path(&dir.join(name).join("list.json")).unwrap();
        l.add_text("probe", "malware", ListFormat::Plain, indicator)
            .unwrap();
        let (set, _) = l.build();
        out.clear();
        let n = set.matches(&event(event_ecs), &mut out);
        assert!(out.is_empty() && n == 1, "{name}: {out:?}");
        assert_eq!(set.suppressions()[0].count, 1, "{name}");
    }
    // tlds (string, on domains): only a value that is exactly a TLD is allowlisted. Domain
    // indicators have two labels at least (the loader rejects `com`), so with real names it
    // never suppresses: a name under a TLD still matches.
    let mut l = IocLoader::new();
    l.add_path(&dir.join("tlds/list.json")).unwrap();
    l.add_text("probe", "malware", ListFormat::Plain, "still-bad.example\n")
        .unwrap();
    let (set, _) = l.build();
    let mut out = Vec::new();
    let n = set.matches(
        &event(ecs(&|e| {
            e.dns_question_name = Some("x.still-bad.example".into())
        })),
        &mut out,
    );
    assert_eq!((out.len(), n), (1, 0));
    assert_eq!(set.suppressions()[0].ty, WarninglistType::String);
}

#[test]
fn whole_rules_directory_and_kinds_in_taxonomy() {
    let mut l = loader();
    assert_eq!(l.add_path(&rules_ioc()).unwrap(), 4);
    let (set, reports) = l.build();
    let ids: Vec<&str> = reports.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "eset-misp",
            "maltrail-malicious",
            "maltrail-malware",
            "misp-warninglists"
        ]
    );
    // Every kind the definitions use is mapped by the taxonomy.
    let taxonomy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/taxonomy.yaml");
    let text = std::fs::read_to_string(&taxonomy).expect("rules/taxonomy.yaml");
    let doc = &yaml_rust2::YamlLoader::load_from_str(&text).unwrap()[0];
    let mapped: Vec<String> = doc["ioc_kinds"]
        .as_hash()
        .expect("ioc_kinds")
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    for list in set.lists() {
        if list.kind == "allowlist" {
            continue;
        }
        for k in std::iter::once(&list.kind).chain(list.family_kinds.values()) {
            assert!(
                mapped.contains(k),
                "{}: kind {k} not in taxonomy ioc_kinds",
                list.id
            );
        }
    }
}

#[test]
fn raw_files_and_directories() {
    let mut l = IocLoader::new();
    let data = data_dir().join("intel");
    assert_eq!(
        l.add_path(&data.join("misp-warninglists/rfc1918/list.json"))
            .unwrap(),
        1
    );
    assert_eq!(l.add_path(&data.join("maltrail/malware")).unwrap(), 100);
    assert_eq!(l.add_path(&data.join("eset-misp/ramsay")).unwrap(), 1);
    let (set, reports) = l.build();
    assert_eq!(reports[0].id, "rfc1918");
    assert_eq!(reports[0].format, Some(ListFormat::Warninglist));
    assert_eq!(reports[1].format, Some(ListFormat::Maltrail));
    assert_eq!(reports[101].id, "misp-ramsay");
    assert_eq!(reports[101].format, Some(ListFormat::MispJson));
    let ramsay = set.list("misp-ramsay").unwrap();
    assert_eq!(ramsay.kind, "unknown");
    assert!(ramsay.definition.is_none());
    assert_eq!(set.list("amend_miner").unwrap().kind, "unknown");
}

#[test]
fn loading_errors_name_file_line_and_problem() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ioc_errors");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("only-bad.txt"), "# header\nnot a domain\n12345\n").unwrap();
    std::fs::write(dir.join("some-bad.txt"), "evil.example\n\nbad value here\n").unwrap();
    std::fs::write(dir.join("broken.json"), "{\"Event\": {\"Attribute\": [\n}").unwrap();

    let mut l = IocLoader::new();
    let e = l
        .add_path(&dir.join("only-bad.txt"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("only-bad.txt") && e.contains("yields no indicator") && e.contains("2"),
        "{e}"
    );

    l.add_path(&dir.join("some-bad.txt")).unwrap();
    let r = l.reports()[0].clone();
    assert_eq!((r.indicators, r.skipped), (1, 1));
    let w = r.warnings[0].to_string();
    assert!(
        w.contains("some-bad.txt: line 3: ") && w.contains("spaces"),
        "{w}"
    );

    let e = l
        .add_path(&dir.join("broken.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("broken.json:2: json"), "{e}");

    // A raw file whose id is taken gets its folder's name in front; definitions must not clash.
    l.add_path(&dir.join("some-bad.txt")).unwrap();
    assert_eq!(l.reports()[1].id, "ioc_errors-some-bad");
    let def = format!(
        "id: some-bad\ntitle: T\nkind: c2\nformat: plain\npath: {}\n",
        dir.join("some-bad.txt").display()
    );
    let e = l
        .add_definition_str(&def, &dir.join("dup.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dup.yaml: list id some-bad already loaded from"),
        "{e}"
    );

    let e = l
        .add_path(&dir.join("missing.txt"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.txt"), "{e}");

    let e = IocLoader::new()
        .add_definition_str(
            "id: x\ntitle: X\nkind: c2\nformat: plain\npath: nowhere.txt\n",
            &dir.join("x.yaml"),
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nowhere.txt") && e.contains("no such file"),
        "{e}"
    );

    let e = IocLoader::new()
        .add_path(&rules_ioc().join("maltrail-malware.yaml"))
        .map(|_| ())
        .or_else(|e| {
            if std::env::var("CANHGAC_DATA").is_ok() {
                Ok(())
            } else {
                Err(e)
            }
        });
    if let Err(e) = e {
        assert!(e.to_string().contains("CANHGAC_DATA is not set"), "{e}");
    }
}
