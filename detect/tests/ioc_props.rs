//! Property tests: domain, CIDR and URL lookups of a compiled `IocSet` agree with a naive
//! linear scan over the same indicators.

use std::collections::BTreeSet;
use std::net::IpAddr;

use canhgac_core::{Ecs, Event};
use canhgac_detect::ioc::{IocLoader, IocSet, ListFormat};
use ipnet::IpNet;
use proptest::prelude::*;
use serde_json::json;

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

fn build(lines: &[String]) -> IocSet {
    let mut l = IocLoader::new();
    l.add_text("p", "malware", ListFormat::Plain, &lines.join("\n"))
        .unwrap();
    l.build().0
}

fn matched(set: &IocSet, ecs: Ecs) -> BTreeSet<String> {
    let mut out = Vec::new();
    set.matches(&event(ecs), &mut out);
    out.into_iter().map(|m| m.hit.indicator).collect()
}

/// Names over a tiny alphabet so that indicators and queries share suffixes often.
fn name() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop::sample::select(vec!["a", "b", "xn--c", "a-b", "_d"]),
            0..4,
        ),
        prop::sample::select(vec!["vn", "com", "gov.vn"]),
    )
        .prop_map(|(labels, tld)| {
            let mut v: Vec<&str> = labels;
            v.push(tld);
            v.join(".")
        })
        .prop_filter("two labels at least", |s| s.contains('.'))
}

fn case_and_dot(s: &str, upper: bool, dot: bool) -> String {
    let mut s = if upper {
        s.to_ascii_uppercase()
    } else {
        s.to_string()
    };
    if dot {
        s.push('.');
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn domains_agree_with_linear_scan(
        indicators in prop::collection::btree_set(name(), 1..20),
        queries in prop::collection::vec((name(), any::<bool>(), any::<bool>()), 1..20),
    ) {
        let lines: Vec<String> = indicators.iter().cloned().collect();
        let set = build(&lines);
        for (q, upper, dot) in queries {
            let written = case_and_dot(&q, upper, dot);
            let got = matched(&set, Ecs { dns_question_name: Some(written.clone()), ..Default::default() });
            let want: BTreeSet<String> = indicators
                .iter()
                .filter(|d| q == **d || q.ends_with(&format!(".{d}")))
                .cloned()
                .collect();
            prop_assert_eq!(got, want, "query {}", written);
        }
    }

    #[test]
    fn cidrs_agree_with_linear_scan(
        nets in prop::collection::vec((any::<u32>(), 0u8..=32), 1..30),
        nets6 in prop::collection::vec((any::<u128>(), 0u8..=128), 0..10),
        probes in prop::collection::vec((0usize..30, any::<u32>(), 0u8..4), 1..30),
        probes6 in prop::collection::vec(any::<u128>(), 0..10),
    ) {
        let mut list: Vec<IpNet> = nets
            .iter()
            .map(|(a, l)| IpNet::new(IpAddr::from(a.to_be_bytes()), *l).unwrap().trunc())
            .collect();
        list.extend(nets6.iter().map(|(a, l)| IpNet::new(IpAddr::from(a.to_be_bytes()), *l).unwrap().trunc()));
        list.sort();
        list.dedup();
        // Written as the loader would display them: a /32 or /128 is an address.
        let lines: Vec<String> = list.iter().map(|n| n.to_string()).collect();
        let set = build(&lines);
        // Probe at and around range boundaries, and at random.
        let mut ips: Vec<IpAddr> = Vec::new();
        for (i, r, how) in probes {
            let n = list[i % list.len()];
            ips.push(match (how, n) {
                (0, n) => n.network(),
                (1, n) => n.broadcast(),
                (2, IpNet::V4(n)) => IpAddr::from(u32::from(n.broadcast()).wrapping_add(1).to_be_bytes()),
                (2, IpNet::V6(n)) => IpAddr::from(u128::from(n.broadcast()).wrapping_add(1).to_be_bytes()),
                (_, IpNet::V4(n)) => IpAddr::from(u32::from(n.network()).wrapping_sub(1 + r % 3).to_be_bytes()),
                (_, IpNet::V6(n)) => IpAddr::from(u128::from(n.network()).wrapping_sub(1).to_be_bytes()),
            });
            ips.push(IpAddr::from(r.to_be_bytes()));
        }
        ips.extend(probes6.iter().map(|a| IpAddr::from(a.to_be_bytes())));
        for ip in ips {
            // IPv4-mapped IPv6 is compared as IPv4; keep the probe and the oracle on one footing.
            let ip = ip.to_canonical();
            let got = matched(&set, Ecs { destination_ip: Some(ip), ..Default::default() });
            let want: BTreeSet<String> = list
                .iter()
                .zip(&lines)
                .filter(|(n, _)| match (n, ip) {
                    (IpNet::V4(_), IpAddr::V4(_)) | (IpNet::V6(_), IpAddr::V6(_)) => n.contains(&ip),
                    _ => false,
                })
                .map(|(_, l)| l.clone())
                .collect();
            prop_assert_eq!(got, want, "ip {}", ip);
        }
    }

    #[test]
    fn url_prefixes_agree_with_segment_scan(
        indicators in prop::collection::btree_set(
            (prop::sample::select(vec!["a.vn", "b.a.vn"]), prop::collection::vec(prop::sample::select(vec!["x", "y", "x.php"]), 1..4)),
            1..10),
        queries in prop::collection::vec(
            (prop::sample::select(vec!["a.vn", "b.a.vn", "A.VN"]), prop::collection::vec(prop::sample::select(vec!["x", "y", "x.php", "X"]), 0..5), any::<bool>()),
            1..20),
    ) {
        let lines: Vec<String> = indicators.iter().map(|(h, p)| format!("{h}/{}", p.join("/"))).collect();
        let set = build(&lines);
        for (host, segs, query) in queries {
            let path = segs.join("/");
            let url = format!("http://{host}/{path}{}", if query { "?q=1" } else { "" });
            let got = matched(&set, Ecs { url_full: Some(url.clone()), ..Default::default() });
            // Oracle: the indicator's segments are a prefix of the URL's (case-insensitive).
            let host_l = host.to_ascii_lowercase();
            let segs_l: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
            let want: BTreeSet<String> = indicators
                .iter()
                .filter(|(h, p)| *h == host_l && p.len() <= segs_l.len() && p.iter().zip(&segs_l).all(|(a, b)| a == b))
                .map(|(h, p)| format!("{h}/{}", p.join("/")))
                .collect();
            prop_assert_eq!(got, want, "url {}", url);
        }
    }
}
