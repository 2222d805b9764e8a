//! Table-driven IOC matching: lists + event (ECS JSON) → expected hits and suppressions.
//! The lists are in-memory plain lists; the allowlists are the real MISP warninglists of
//! `../shared/data/intel/misp-warninglists`, loaded through `rules/ioc/misp-warninglists.yaml`.

use std::path::PathBuf;

use canhgac_core::Event;
use canhgac_detect::ioc::{IocLoader, IocMatch, IocSet, ListFormat};
use serde_json::{json, Value};

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

const PHISH: &str = "\
# phishing list
evil.example
Login.Bank-VN.example.
http://phish.example/login
bad.example/gate
/wp-admin/x.php
CEO@Lure.Example
lure2.example
shared.example
api.ipify.org
";

const C2: &str = "\
45.9.148.7
185.220.101.0/24
2a0d:5600:bad::/48
91.92.240.10:8443
[2a0d:5600::1]:443
B2B51A85BDAD70FF19534CD013C07F24
baa20ce99089fc35179802a0cc1149f929bdf0fa
885540B5A42FE845FFADA109B4EF7EB1E07C158255AC315910DFB333EC85D513
10.9.8.7
10.1.0.0/16
bit.ly/abc
d41d8cd98f00b204e9800998ecf8427e
shared.example
";

fn set() -> IocSet {
    let mut l = IocLoader::new().var("CANHGAC_DATA", data_dir().display().to_string());
    l.add_text("phish", "phishing", ListFormat::Plain, PHISH)
        .unwrap();
    l.add_text("c2", "c2", ListFormat::Plain, C2).unwrap();
    l.add_path(&rules_ioc().join("misp-warninglists.yaml"))
        .unwrap();
    let (set, reports) = l.build();
    for r in &reports {
        assert_eq!(r.skipped, 0, "{:?}", r.warnings);
    }
    set
}

fn event(ecs: Value) -> Event {
    serde_json::from_value(json!({
        "v": 1,
        "id": "00000000000000000000000000000000",
        "agency": "moh",
        "sensor": "s1",
        "dataset": "json",
        "@timestamp": "2024-04-01T00:00:00Z",
        "received": "2024-04-01T00:00:00Z",
        "source": {"kind": "file", "name": "t"},
        "ecs": ecs,
        "original": {}
    }))
    .expect("event json")
}

/// (list, indicator, field, value)
type Hit = (&'static str, &'static str, &'static str, &'static str);

struct Case {
    name: &'static str,
    ecs: Value,
    hits: &'static [Hit],
    suppressed: usize,
}

fn cases() -> Vec<Case> {
    let c = |name, ecs, hits, suppressed| Case {
        name,
        ecs,
        hits,
        suppressed,
    };
    vec![
        c(
            "subdomain, case and trailing dot",
            json!({"dns.question.name": "A.B.Evil.Example."}),
            &[(
                "phish",
                "evil.example",
                "dns.question.name",
                "A.B.Evil.Example.",
            )],
            0,
        ),
        c(
            "domain itself",
            json!({"url.domain": "evil.example"}),
            &[("phish", "evil.example", "url.domain", "evil.example")],
            0,
        ),
        c(
            "indicator written with case and dot",
            json!({"tls.server.sni": "x.login.bank-vn.example"}),
            &[(
                "phish",
                "Login.Bank-VN.example.",
                "tls.server.sni",
                "x.login.bank-vn.example",
            )],
            0,
        ),
        c(
            "not a label boundary",
            json!({"dns.question.name": "notevil.example"}),
            &[],
            0,
        ),
        c(
            "parent of an indicator",
            json!({"dns.question.name": "bank-vn.example"}),
            &[],
            0,
        ),
        c(
            "cidr low bound",
            json!({"destination.ip": "185.220.101.0"}),
            &[("c2", "185.220.101.0/24", "destination.ip", "185.220.101.0")],
            0,
        ),
        c(
            "cidr high bound",
            json!({"destination.ip": "185.220.101.255"}),
            &[(
                "c2",
                "185.220.101.0/24",
                "destination.ip",
                "185.220.101.255",
            )],
            0,
        ),
        c(
            "cidr below",
            json!({"destination.ip": "185.220.100.255"}),
            &[],
            0,
        ),
        c(
            "cidr above",
            json!({"destination.ip": "185.220.102.0"}),
            &[],
            0,
        ),
        c(
            "ipv6 cidr",
            json!({"source.ip": "2a0d:5600:bad:ffff::1"}),
            &[(
                "c2",
                "2a0d:5600:bad::/48",
                "source.ip",
                "2a0d:5600:bad:ffff::1",
            )],
            0,
        ),
        c(
            "ipv6 outside",
            json!({"source.ip": "2a0d:5600:bae::1"}),
            &[],
            0,
        ),
        c(
            "ipv6 endpoint",
            json!({"destination.ip": "2a0d:5600::1", "destination.port": 443}),
            &[(
                "c2",
                "[2a0d:5600::1]:443",
                "destination.ip",
                "[2a0d:5600::1]:443",
            )],
            0,
        ),
        c(
            "ipv6 endpoint other port",
            json!({"destination.ip": "2a0d:5600::1", "destination.port": 80}),
            &[],
            0,
        ),
        c(
            "ipv4 endpoint on source",
            json!({"source.ip": "91.92.240.10", "source.port": 8443}),
            &[("c2", "91.92.240.10:8443", "source.ip", "91.92.240.10:8443")],
            0,
        ),
        c(
            "ipv4 endpoint without port",
            json!({"destination.ip": "91.92.240.10"}),
            &[],
            0,
        ),
        c(
            "ipv4-mapped ipv6",
            json!({"host.ip": "::ffff:45.9.148.7"}),
            &[("c2", "45.9.148.7", "host.ip", "45.9.148.7")],
            0,
        ),
        c(
            "url normalised",
            json!({"url.full": "HTTP://Phish.Example:80/Login/?next=1#frag"}),
            &[(
                "phish",
                "http://phish.example/login",
                "url.full",
                "HTTP://Phish.Example:80/Login/?next=1#frag",
            )],
            0,
        ),
        c(
            "url other scheme, default port",
            json!({"url.full": "https://phish.example:443/login"}),
            &[(
                "phish",
                "http://phish.example/login",
                "url.full",
                "https://phish.example:443/login",
            )],
            0,
        ),
        c(
            "url segment boundary only",
            json!({"url.full": "http://phish.example/loginx"}),
            &[],
            0,
        ),
        c(
            "url other port",
            json!({"url.full": "http://phish.example:8080/login"}),
            &[],
            0,
        ),
        c(
            "maltrail host/path prefix",
            json!({"url.full": "http://bad.example/gate/x.php?id=1"}),
            &[(
                "phish",
                "bad.example/gate",
                "url.full",
                "http://bad.example/gate/x.php?id=1",
            )],
            0,
        ),
        c(
            "url path on any host",
            json!({"url.full": "http://any.example/WP-ADMIN/x.php?a=b"}),
            &[(
                "phish",
                "/wp-admin/x.php",
                "url.full",
                "http://any.example/WP-ADMIN/x.php?a=b",
            )],
            0,
        ),
        c(
            "url path field alone",
            json!({"url.path": "/wp-admin/x.php"}),
            &[("phish", "/wp-admin/x.php", "url.path", "/wp-admin/x.php")],
            0,
        ),
        c(
            "domain and path parts",
            json!({"url.domain": "bad.example", "url.path": "/gate"}),
            &[("phish", "bad.example/gate", "url.path", "/gate")],
            0,
        ),
        c(
            "url host is a listed ip",
            json!({"url.full": "http://45.9.148.7:8080/x"}),
            &[("c2", "45.9.148.7", "url.full", "http://45.9.148.7:8080/x")],
            0,
        ),
        c(
            "url host is a listed domain",
            json!({"related": {"url": ["https://www.evil.example/a"]}}),
            &[(
                "phish",
                "evil.example",
                "related.url",
                "https://www.evil.example/a",
            )],
            0,
        ),
        c(
            "hash case",
            json!({"file.hash.md5": "b2b51a85bdad70ff19534cd013c07f24"}),
            &[(
                "c2",
                "B2B51A85BDAD70FF19534CD013C07F24",
                "file.hash.md5",
                "b2b51a85bdad70ff19534cd013c07f24",
            )],
            0,
        ),
        c(
            "hash upper in event",
            json!({"related": {"hash": ["BAA20CE99089FC35179802A0CC1149F929BDF0FA"]}}),
            &[(
                "c2",
                "baa20ce99089fc35179802a0cc1149f929bdf0fa",
                "related.hash",
                "BAA20CE99089FC35179802A0CC1149F929BDF0FA",
            )],
            0,
        ),
        c(
            "attachment hash",
            json!({"email.attachments": [{"size": 1, "md5": "0", "sha1": "1",
            "sha256": "885540b5a42fe845ffada109b4ef7eb1e07c158255ac315910dfb333ec85d513"}]}),
            &[(
                "c2",
                "885540B5A42FE845FFADA109B4EF7EB1E07C158255AC315910DFB333EC85D513",
                "email.attachments.file.hash.sha256",
                "885540b5a42fe845ffada109b4ef7eb1e07c158255ac315910dfb333ec85d513",
            )],
            0,
        ),
        c(
            "sender address",
            json!({"email.from.address": "ceo@LURE.example"}),
            &[(
                "phish",
                "CEO@Lure.Example",
                "email.from.address",
                "ceo@LURE.example",
            )],
            0,
        ),
        c(
            "sender domain",
            json!({"email.from.address": "<hr@mail.lure2.example>"}),
            &[(
                "phish",
                "lure2.example",
                "email.from.address",
                "hr@mail.lure2.example",
            )],
            0,
        ),
        c(
            "one match per list and indicator",
            json!({"destination.ip": "45.9.148.7", "dns.question.name": "a.evil.example",
                 "related": {"ip": ["45.9.148.7"], "url": ["http://45.9.148.7/"],
                             "hosts": ["a.evil.example", "b.evil.example"]}}),
            &[
                ("c2", "45.9.148.7", "destination.ip", "45.9.148.7"),
                (
                    "phish",
                    "evil.example",
                    "dns.question.name",
                    "a.evil.example",
                ),
            ],
            0,
        ),
        c(
            "same indicator in two lists",
            json!({"dns.question.name": "shared.example"}),
            &[
                (
                    "phish",
                    "shared.example",
                    "dns.question.name",
                    "shared.example",
                ),
                (
                    "c2",
                    "shared.example",
                    "dns.question.name",
                    "shared.example",
                ),
            ],
            0,
        ),
        c(
            "related host that is an ip",
            json!({"related": {"hosts": ["45.9.148.7"]}}),
            &[("c2", "45.9.148.7", "related.hosts", "45.9.148.7")],
            0,
        ),
        c(
            "rfc1918 ip suppressed",
            json!({"destination.ip": "10.9.8.7"}),
            &[],
            1,
        ),
        c(
            "rfc1918 cidr suppressed",
            json!({"source.ip": "10.1.2.3"}),
            &[],
            1,
        ),
        c(
            "url shortener suppressed",
            json!({"url.full": "https://bit.ly/abc"}),
            &[],
            1,
        ),
        c(
            "empty-file hash suppressed",
            json!({"file.hash.md5": "D41D8CD98F00B204E9800998ECF8427E"}),
            &[],
            1,
        ),
        c(
            "what's-my-ip domain suppressed",
            json!({"dns.question.name": "api.ipify.org"}),
            &[],
            1,
        ),
        c(
            "suppressed once per event",
            json!({"destination.ip": "10.9.8.7", "related": {"ip": ["10.9.8.7"], "hosts": ["10.9.8.7"]}}),
            &[],
            1,
        ),
        c("nothing", json!({}), &[], 0),
        c(
            "unrelated values",
            json!({"source.ip": "8.8.8.8", "dns.question.name": "example.org", "url.full": "http://example.org/x",
                 "file.hash.sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "email.from.address": "a@example.org"}),
            &[],
            0,
        ),
        c(
            "garbage values",
            json!({"url.full": "::::", "email.from.address": "not-an-address",
                                   "related": {"hosts": ["", ".", "[zz]"], "hash": [""], "url": ["http://[::1"]}}),
            &[],
            0,
        ),
    ]
}

#[test]
fn table() {
    let set = set();
    let mut failures = Vec::new();
    let mut out: Vec<IocMatch> = Vec::new();
    for case in cases() {
        out.clear();
        let suppressed = set.matches(&event(case.ecs.clone()), &mut out);
        let got: Vec<(String, String, String, String)> = out
            .iter()
            .map(|m| {
                (
                    m.list.id.clone(),
                    m.hit.indicator.clone(),
                    m.hit.field.clone(),
                    m.hit.value.clone(),
                )
            })
            .collect();
        let want: Vec<(String, String, String, String)> = case
            .hits
            .iter()
            .map(|h| (h.0.into(), h.1.into(), h.2.into(), h.3.into()))
            .collect();
        if got != want || suppressed != case.suppressed {
            failures.push(format!(
                "{}: got {got:?} (suppressed {suppressed}), want {want:?} (suppressed {})",
                case.name, case.suppressed
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn match_carries_list_metadata() {
    let set = set();
    let mut out = Vec::new();
    set.matches(
        &event(json!({"dns.question.name": "x.evil.example"})),
        &mut out,
    );
    let m = &out[0];
    assert_eq!(m.hit.indicator_type, "domain");
    assert_eq!(m.hit.list_kind, "phishing");
    assert_eq!(m.hit.list, "phish");
    assert_eq!(m.list.kind, "phishing");
    assert_eq!(m.list.rule_ref().id, "phish");
    assert_eq!(m.kind.as_str(), "domain");
    let mut out = Vec::new();
    set.matches(
        &event(json!({"destination.ip": "2a0d:5600::1", "destination.port": 443})),
        &mut out,
    );
    assert_eq!(out[0].kind.as_str(), "ip-port");
    assert_eq!(out[0].hit.indicator_type, "ip");
}

#[test]
fn suppressions_are_counted_per_warninglist() {
    let set = set();
    let mut out = Vec::new();
    for ip in ["10.9.8.7", "10.1.1.1", "10.1.1.2"] {
        set.matches(&event(json!({"destination.ip": ip})), &mut out);
    }
    assert!(out.is_empty());
    let s = set.suppressions();
    assert_eq!(s.len(), 10, "{s:?}");
    let total: u64 = s.iter().map(|x| x.count).sum();
    assert_eq!(total, 3, "{s:?}");
    let rfc1918 = s
        .iter()
        .find(|x| x.warninglist.contains("RFC 1918"))
        .expect("rfc1918 loaded");
    assert_eq!(
        rfc1918.count, 3,
        "the first allowlist that applies counts it: {s:?}"
    );
}

#[test]
fn families_and_family_kinds() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ioc_families");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sliver.txt"), "c2.example\nboth.example\n").unwrap();
    std::fs::write(dir.join("ek_rig.txt"), "ek.example\nboth.example\n").unwrap();
    let def = format!(
        "id: fam\ntitle: Families\nkind: malware\nformat: maltrail\npath: {}\n\
         level: critical\nfamily_kinds: {{sliver: c2}}\n",
        dir.display()
    );
    let mut l = IocLoader::new();
    l.add_definition_str(&def, &dir.join("fam.yaml")).unwrap();
    let (set, reports) = l.build();
    assert_eq!(reports[0].indicators, 4);
    assert_eq!(reports[0].distinct, 3);
    let kinds = |name: &str| {
        let mut out = Vec::new();
        set.matches(&event(json!({"dns.question.name": name})), &mut out);
        assert_eq!(out.len(), 1, "{name}");
        (out[0].hit.list.clone(), out[0].hit.list_kind.clone())
    };
    assert_eq!(kinds("c2.example"), ("fam: sliver".into(), "c2".into()));
    assert_eq!(
        kinds("ek.example"),
        ("fam: ek_rig".into(), "malware".into())
    );
    assert_eq!(
        kinds("both.example"),
        ("fam: ek_rig, sliver".into(), "c2".into()),
        "files load in name order; the kind of the first family that has one"
    );
    assert_eq!(
        set.list("fam").unwrap().rule_ref().level.as_str(),
        "critical"
    );
}

#[test]
fn maltrail_regex_trails() {
    let mut l = IocLoader::new();
    l.add_text(
        "trails",
        "malware",
        ListFormat::Maltrail,
        "# Maltrail\nq(l|r)[0-9]{5,6}\\.pw\n\\b(atztds|mtxtds)[0-9a-z]+\\.(world|xyz)\nplain.example\n",
    )
    .unwrap();
    let (set, reports) = l.build();
    assert_eq!(reports[0].by_kind["domain-regex"], 2);
    let hits = |name: &str| {
        let mut out = Vec::new();
        set.matches(&event(json!({"dns.question.name": name})), &mut out);
        out.into_iter()
            .map(|m| (m.hit.indicator, m.kind.as_str()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        hits("xql12345.pw"),
        vec![("q(l|r)[0-9]{5,6}\\.pw".to_string(), "domain-regex")]
    );
    assert_eq!(
        hits("QR123456.PW."),
        vec![("q(l|r)[0-9]{5,6}\\.pw".to_string(), "domain-regex")]
    );
    assert_eq!(hits("cdn.mtxtds9a.world").len(), 1);
    assert!(hits("ql1234.pw").is_empty());
    assert!(
        hits("xatztds9a.world").is_empty(),
        "\\b anchors at a word boundary"
    );
    // In plain lists a regex is no indicator: the line is skipped with a warning.
    let mut l = IocLoader::new();
    l.add_text(
        "p",
        "malware",
        ListFormat::Plain,
        "q(l|r)[0-9]{5,6}\\.pw\nok.example\n",
    )
    .unwrap();
    assert_eq!(l.reports()[0].skipped, 1);
}
