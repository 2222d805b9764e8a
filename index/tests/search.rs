//! Search: Vietnamese with and without diacritics in NFC and NFD, CIDR filters, facets, a
//! cursor that neither repeats nor skips while documents are added, tenant scope, and query
//! errors with positions.

use std::collections::{BTreeMap, BTreeSet};

use canhgac_core::detection::Detection;
use canhgac_core::{Category, Id};
use canhgac_index::search::parse_cidr;
use canhgac_index::synth::{detection, incident_detections, month_corpus};
use canhgac_index::{IncidentIndex, IndexError, Indexer, Kind, Record, Scope, SearchRequest, Sort};
use unicode_normalization::UnicodeNormalization;

use crate::support::opts;

fn build(ds: &[Detection]) -> (Indexer, IncidentIndex) {
    let mut ix = Indexer::in_ram(opts()).unwrap();
    for d in ds {
        ix.process(&serde_json::to_vec(d).unwrap(), None).unwrap();
    }
    ix.commit().unwrap();
    let index = IncidentIndex::of(&ix).unwrap();
    index.reload().unwrap();
    (ix, index)
}

fn corpus() -> Vec<Detection> {
    let mut v = Vec::new();
    for i in 0..400 {
        v.extend(incident_detections(i, 1 + i % 3, 202201, 4));
    }
    v
}

fn ids(index: &IncidentIndex, req: &SearchRequest) -> BTreeSet<Id> {
    let mut req = req.clone();
    req.limit = 10_000;
    index
        .search(&req)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| match h.record {
            Record::Incident(r) => r.incident.id,
            Record::Detection(d) => d.id,
        })
        .collect()
}

fn q(query: &str) -> SearchRequest {
    SearchRequest::new(Scope::All, query)
}

#[test]
fn vietnamese_with_and_without_diacritics_nfc_and_nfd() {
    let ds = corpus();
    let (_ix, index) = build(&ds);
    // Incidents whose rule title contains "tấn công" (deface-001 and ddos-001).
    let want: BTreeSet<Id> = ds
        .iter()
        .filter(|d| d.rule.title.to_lowercase().contains("tấn công"))
        .map(|d| d.incident_id)
        .collect();
    assert!(!want.is_empty());
    let nfd: String = "\"tấn công\"".nfd().collect();
    assert_ne!(nfd, "\"tấn công\"");
    for query in [
        "\"tấn công\"",
        "\"tan cong\"",
        "\"TẤN CÔNG\"",
        nfd.as_str(),
        "title:\"Tan Cong\"",
    ] {
        assert_eq!(ids(&index, &q(query)), want, "query {query}");
    }
    // đ folds to d: "thay đổi giao diện" = "thay doi giao dien".
    let deface: BTreeSet<Id> = ds
        .iter()
        .filter(|d| d.rule.title.contains("thay đổi giao diện"))
        .map(|d| d.incident_id)
        .collect();
    assert!(!deface.is_empty());
    assert_eq!(ids(&index, &q("\"thay doi giao dien\"")), deface);
    assert_eq!(ids(&index, &q("\"THAY ĐỔI GIAO DIỆN\"")), deface);
    // Accent-exact fields: "tấn công" matches, "tan cong" does not.
    assert_eq!(ids(&index, &q("title_exact:\"tấn công\"")), want);
    let nfd_exact: String = "title_exact:\"tấn công\"".nfd().collect();
    assert_eq!(ids(&index, &q(&nfd_exact)), want);
    assert!(ids(&index, &q("title_exact:\"tan cong\"")).is_empty());
    // English and keyword fields.
    assert!(!ids(&index, &q("portal AND byt")).is_empty());
    let mut det = q("isolate AND server");
    det.kind = Kind::Detections;
    assert!(
        !ids(&index, &det).is_empty(),
        "guidance is searchable in detections"
    );
    let phishing: BTreeSet<Id> = ds
        .iter()
        .filter(|d| d.category == Category::Phishing)
        .map(|d| d.incident_id)
        .collect();
    assert_eq!(ids(&index, &q("category:phishing")), phishing);
    assert_eq!(ids(&index, &q("category:PHISHING")), phishing);
}

#[test]
fn cidr_filters_match_ipv4_as_mapped_ipv6() {
    let ds = corpus();
    let (_ix, index) = build(&ds);
    for net in [
        "203.113.0.0/16",
        "203.113.7.0/24",
        "203.113.7.9",
        "10.0.0.0/8",
        "192.168.0.0/16",
    ] {
        let n = parse_cidr(net).unwrap();
        let want: BTreeSet<Id> = ds
            .iter()
            .filter(|d| {
                d.entities
                    .ips
                    .iter()
                    .any(|ip| n.contains(&ip.parse::<std::net::IpAddr>().unwrap()))
            })
            .map(|d| d.incident_id)
            .collect();
        let mut req = q("");
        req.cidrs = vec![n];
        // An incident keeps at most 32 IPs; this corpus stays under that.
        assert_eq!(ids(&index, &req), want, "{net}");
        if net == "203.113.0.0/16" {
            assert!(!want.is_empty());
        }
    }
    assert!(parse_cidr("300.1.1.1/8").is_err());
    assert!(parse_cidr("::ffff:203.113.0.0/112").is_ok());
}

#[test]
fn facets_count_the_whole_result_set() {
    let ds = corpus();
    let (_ix, index) = build(&ds);
    let mut incidents: BTreeMap<Id, &Detection> = BTreeMap::new();
    for d in &ds {
        let e = incidents.entry(d.incident_id).or_insert(d);
        if (d.timestamp, d.id) < (e.timestamp, e.id) {
            *e = d;
        }
    }
    let mut req = q("category:deface OR category:malware");
    req.facets = true;
    req.limit = 5;
    let resp = index.search(&req).unwrap();
    let mut by_agency: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_cat: BTreeMap<String, u64> = BTreeMap::new();
    for d in incidents
        .values()
        .filter(|d| matches!(d.category, Category::Deface | Category::Malware))
    {
        *by_agency.entry(d.agency.clone()).or_default() += 1;
        *by_cat.entry(d.category.to_string()).or_default() += 1;
    }
    let facets = resp.facets.unwrap();
    assert_eq!(resp.total, by_cat.values().sum::<u64>());
    assert_eq!(resp.hits.len(), 5);
    assert_eq!(
        facets.agency.iter().cloned().collect::<BTreeMap<_, _>>(),
        by_agency
    );
    assert_eq!(
        facets.category.iter().cloned().collect::<BTreeMap<_, _>>(),
        by_cat
    );
    assert_eq!(facets.priority.iter().map(|x| x.1).sum::<u64>(), resp.total);
    assert!(
        facets.agency.windows(2).all(|w| w[0].1 >= w[1].1),
        "most frequent first"
    );
}

#[test]
fn paging_has_no_gaps_or_repeats_while_documents_are_added() {
    for sort in [Sort::Newest, Sort::Oldest] {
        let ds = corpus();
        let (mut ix, index) = build(&ds);
        let before = ids(&index, &q(""));
        let mut req = q("");
        req.sort = sort;
        req.limit = 37;
        let mut seen: Vec<Id> = Vec::new();
        let mut extra = 10_000u64;
        let mut last_key: Option<i64> = None;
        loop {
            let resp = index.search(&req).unwrap();
            for h in &resp.hits {
                let Record::Incident(r) = &h.record else {
                    panic!()
                };
                let t = r.incident.first_seen.timestamp();
                if let Some(k) = last_key {
                    match sort {
                        Sort::Newest => assert!(t <= k),
                        _ => assert!(t >= k),
                    }
                }
                last_key = Some(t);
                seen.push(r.incident.id);
            }
            // New incidents arrive between pages, before and after the cursor.
            for _ in 0..7 {
                for d in incident_detections(extra, 2, 202112, 8) {
                    ix.process(&serde_json::to_vec(&d).unwrap(), None).unwrap();
                }
                extra += 1;
            }
            ix.commit().unwrap();
            index.reload().unwrap();
            match resp.next_cursor {
                Some(c) => req.cursor = Some(c),
                None => break,
            }
        }
        let unique: BTreeSet<Id> = seen.iter().copied().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{sort:?}: a document on two pages"
        );
        assert!(
            before.is_subset(&unique),
            "{sort:?}: a document present from the start was skipped"
        );
        assert!(
            unique.len() > before.len(),
            "{sort:?}: some added documents were paged too"
        );
    }
}

#[test]
fn relevance_sort_and_its_cursor() {
    let (_ix, index) = build(&corpus());
    let mut req = q("\"tan cong\" OR ssh");
    req.sort = Sort::Relevance;
    req.limit = 10;
    let all = ids(&index, &req);
    let mut seen = BTreeSet::new();
    loop {
        let resp = index.search(&req).unwrap();
        let scores: Vec<f32> = resp.hits.iter().map(|h| h.score.unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]));
        for h in resp.hits {
            let Record::Incident(r) = h.record else {
                panic!()
            };
            assert!(seen.insert(r.incident.id));
        }
        match resp.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, all);
}

#[test]
fn scope_is_built_into_every_read() {
    let ds = corpus();
    let (_ix, index) = build(&ds);
    let byt = Scope::Agency("byt".into());
    let byt_incidents: BTreeSet<Id> = ds
        .iter()
        .filter(|d| d.agency == "byt")
        .map(|d| d.incident_id)
        .collect();
    assert!(!byt_incidents.is_empty());
    let mut req = SearchRequest::new(byt.clone(), "");
    assert_eq!(ids(&index, &req), byt_incidents);
    // A query naming another agency, or OR-ing one in, does not widen the scope.
    for query in [
        "agency:bca",
        "agency:byt OR agency:bca",
        "* OR agency:bca",
        "NOT agency:byt",
    ] {
        req.query = query.into();
        let got = ids(&index, &req);
        assert!(got.is_subset(&byt_incidents), "{query}");
    }
    req.query = String::new();
    req.agencies = vec!["bca".into()];
    assert!(ids(&index, &req).is_empty());
    req.agencies.clear();
    req.facets = true;
    let facets = index.search(&req).unwrap().facets.unwrap();
    assert_eq!(facets.agency.len(), 1);
    assert_eq!(facets.agency[0].0, "byt");
    req.kind = Kind::Detections;
    let dets = ids(&index, &req);
    assert_eq!(dets.len(), ds.iter().filter(|d| d.agency == "byt").count());
    // Detail of another agency's incident: not found, as if it did not exist.
    let bca = ds.iter().find(|d| d.agency == "bca").unwrap();
    assert!(matches!(
        index.incident(&byt, &bca.incident_id, 10),
        Err(IndexError::NotFound { .. })
    ));
    let detail = index
        .incident(&Scope::Agency("bca".into()), &bca.incident_id, 100)
        .unwrap();
    let n = ds
        .iter()
        .filter(|d| d.incident_id == bca.incident_id)
        .count();
    assert_eq!(detail.detections.len(), n);
    assert_eq!(detail.detections_total, n as u64);
    assert!(detail
        .detections
        .windows(2)
        .all(|w| w[0].timestamp <= w[1].timestamp));
    assert_eq!(
        detail.detections[0].event.agency, "bca",
        "the event comes whole"
    );
    // Statistics are scoped too.
    let stats = index
        .monthly(&canhgac_index::StatsRequest {
            scope: byt,
            month: 202204,
            months: 4,
            top: 5,
        })
        .unwrap();
    assert_eq!(
        stats.months.iter().map(|m| m.incidents).sum::<u64>(),
        byt_incidents.len() as u64
    );
    assert!(stats
        .months
        .iter()
        .all(|m| m.by_agency.keys().all(|a| a == "byt")));
}

#[test]
fn time_filters_and_typed_filters() {
    let ds = month_corpus(202203, 30, 1)
        .into_iter()
        .chain(month_corpus(202204, 20, 2))
        .collect::<Vec<_>>();
    let (_ix, index) = build(&ds);
    let mut req = q("");
    req.from = Some("2022-03-31T17:00:00Z".parse().unwrap()); // 2022-04-01 00:00 in Hanoi
    assert_eq!(ids(&index, &req).len(), 20);
    req.from = None;
    req.to = Some("2022-03-31T17:00:00Z".parse().unwrap());
    assert_eq!(ids(&index, &req).len(), 30);
    let mut req = q("month:202204");
    assert_eq!(ids(&index, &req).len(), 20);
    req.query = "count:[3 TO *]".into();
    let want = ds.iter().fold(BTreeMap::<Id, u64>::new(), |mut m, d| {
        *m.entry(d.incident_id).or_default() += 1;
        m
    });
    assert_eq!(
        ids(&index, &req).len(),
        want.values().filter(|c| **c >= 3).count()
    );
    let one = detection("byt", "cg-phish-001", "x.gov.vn", 1_650_000_000, 1);
    let mut req = q(&format!("id:{}", one.incident_id));
    req.categories = vec![Category::Phishing];
    assert!(ids(&index, &req).is_empty());
}

#[test]
fn malformed_queries_are_errors_with_positions_never_panics() {
    let (_ix, index) = build(&month_corpus(202204, 5, 1));
    let cases = [
        ("title:(tấn", None),
        ("\"unclosed phrase", None),
        ("nofield:abc", Some(0)),
        ("tấn AND nofield:abc", Some(8)),
        ("count:abc", None),
        ("count:[1 TO", None),
    ];
    for (query, pos) in cases {
        match index.search(&q(query)) {
            Err(IndexError::Query {
                position, message, ..
            }) => {
                assert!(position <= query.chars().count(), "{query}: {position}");
                if let Some(p) = pos {
                    assert_eq!(position, p, "{query}: {message}");
                }
                let text = IndexError::Query {
                    query: query.into(),
                    position,
                    message,
                }
                .to_string();
                assert!(text.contains('^'), "{text}");
            }
            other => panic!("{query}: expected a query error, got {other:?}"),
        }
    }
    // Arbitrary input: an answer or an error, never a panic.
    let alphabet: Vec<char> = "ab: \"()[]{}~^*+-!/\\ANDORTtấđ0192.".chars().collect();
    let mut x = 12345u64;
    for _ in 0..2000 {
        let len = (x % 16) as usize;
        let s: String = (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                alphabet[(x >> 33) as usize % alphabet.len()]
            })
            .collect();
        let _ = index.search(&q(&s));
    }
    assert!(matches!(
        index.search(&SearchRequest {
            cursor: Some("bogus".into()),
            ..q("")
        }),
        Err(IndexError::Invalid { .. })
    ));
}
