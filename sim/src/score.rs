//! The accuracy harness: replay simulated records through the production path and score the
//! incidents the index makes of them against the ground truth, attack by attack.
//!
//! Replay ([`replay`]): each record is decoded by the ingest decoder of its format (one decoder
//! per agency and stream, as one sensor per file), becomes an [`Event`](canhgac_core::Event)
//! with the id the sensor gives it in the files `canhgac simulate --out` writes
//! ([`crate::out::Layout`]), and `canhgac_detect::Detector` (the worker's own code: Sigma,
//! IOC lists, correlations, taxonomy, attribution) turns it into detections. The detections go
//! to an in-memory [`Indexer`] — the index stage's own writer, whatever grouping of detections
//! into incidents it does — and the incidents are read back through [`IncidentIndex`] with the
//! national [`Scope`], page by page ([`index_incidents`]): the harness scores exactly what the
//! product indexes.
//!
//! # Matching rule
//!
//! An incident *matches* an attack (a [`TruthIncident`]) when all of these hold:
//!
//! 1. same agency;
//! 2. same category;
//! 3. the incident names one of the attack's entities (attacker addresses, sender, sending
//!    domain, look-alike domain, C2, web shell path, payload hash, or a target: portal,
//!    web server, mailbox, workstation — compared case-insensitively) among its IPs, hosts,
//!    domains, mail addresses, hashes, URLs (their host and path) or its grouping key's value;
//! 4. the time ranges overlap, with [`SLACK_MINUTES`] of slack on either side.
//!
//! Per national class: **incidents per attack** = Σ over attacks of the incidents matching it
//! / attacks (1.0 when every attack is one incident); **recall** = attacks matched by at least
//! one incident / attacks; **precision** = incidents matching at least one attack / incidents
//! of the class. Incidents of the other categories are counted separately ([`Score::other`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use canhgac_core::detection::{Category, Detection, Entities};
use canhgac_core::Id;
use canhgac_detect::{Detector, IocSet, Ruleset};
use canhgac_index::{
    IncidentIndex, IncidentRecord, Indexer, IndexerOptions, Record, Scope, SearchRequest, Sort,
};
use canhgac_ingest::{decoder, Decoder, DecoderOptions};

use crate::{SimError, SimRecord, Stream, TruthIncident};

/// Slack around attack times when matching.
pub const SLACK_MINUTES: i64 = 60;

/// Detections added to the in-memory index between two commits.
const COMMIT_EVERY: usize = 20_000;

/// Incidents read from the index per page.
const PAGE: usize = 5_000;

/// An incident as the harness scores it.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: Id,
    pub agency: String,
    pub category: Category,
    pub rule_ids: Vec<String>,
    pub rule_titles: Vec<String>,
    pub group_key: String,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub count: u64,
    /// Lowercased IPs, hosts, domains, mail addresses, hashes, URL hosts and paths, and the
    /// grouping key's value.
    pub entities: HashSet<String>,
}

impl Incident {
    /// The incident of an index record.
    pub fn from_record(r: &IncidentRecord) -> Incident {
        let i = &r.incident;
        let mut entities = HashSet::new();
        add_entities(&mut entities, &i.entities, &i.group_key);
        Incident {
            id: i.id,
            agency: i.agency.clone(),
            category: i.category,
            rule_ids: i.rule_ids.clone(),
            rule_titles: i.rule_titles.clone(),
            group_key: i.group_key.clone(),
            first: i.first_seen,
            last: i.last_seen,
            count: i.count,
            entities,
        }
    }
}

/// What a replay saw.
#[derive(Debug, Default)]
pub struct Replay {
    pub records: u64,
    pub events: u64,
    pub undecodable: u64,
    pub detections: u64,
    /// Detections caused by records injected by an attack / by benign records.
    pub attack_detections: u64,
    pub benign_detections: u64,
    /// Per rule (id, title): detections on benign records — false positives of the rule.
    pub benign_by_rule: BTreeMap<(String, String), u64>,
    /// Per rule (id, title): detections on attack records.
    pub attack_by_rule: BTreeMap<(String, String), u64>,
    /// The incidents the index made of the detections, oldest first.
    pub incidents: Vec<Incident>,
}

fn url_parts(u: &str) -> (Option<&str>, Option<&str>) {
    let (host, rest) = match u.split_once("://") {
        Some((_, r)) => match r.find(['/', '?', '#']) {
            Some(i) => (Some(&r[..i]), &r[i..]),
            None => (Some(r), ""),
        },
        None => (None, u),
    };
    let host = host
        .map(|h| h.rsplit_once('@').map_or(h, |(_, h)| h))
        .map(|h| h.split(':').next().unwrap_or(h))
        .filter(|h| !h.is_empty());
    let path = rest.split(['?', '#']).next().filter(|p| p.starts_with('/'));
    (host, path)
}

fn add_entities(set: &mut HashSet<String>, e: &Entities, group_key: &str) {
    for v in e
        .ips
        .iter()
        .chain(&e.hosts)
        .chain(&e.domains)
        .chain(&e.emails)
        .chain(&e.hashes)
    {
        set.insert(v.trim_end_matches('.').to_ascii_lowercase());
    }
    for u in &e.urls {
        let (host, path) = url_parts(u);
        for v in host.into_iter().chain(path) {
            set.insert(v.to_ascii_lowercase());
        }
    }
    // The grouping key names an entity too (`dns.question.name=evil.example`).
    if let Some((_, v)) = group_key.split_once('=') {
        set.insert(v.to_ascii_lowercase());
    }
}

/// Replays records through `rules` (and `iocs`, when given) into an in-memory index and reads
/// its incidents back.
pub fn replay(
    records: impl IntoIterator<Item = SimRecord>,
    rules: &Ruleset,
    iocs: Option<&IocSet>,
) -> Result<Replay, SimError> {
    let mut decoders: HashMap<(String, Stream), Box<dyn Decoder>> = HashMap::new();
    let mut layout = crate::out::Layout::new();
    let mut detector = Detector::new(rules);
    let mut dets: Vec<Detection> = Vec::new();
    let mut r = Replay::default();
    let mut index = Indexer::in_ram(IndexerOptions {
        threads: 1,
        heap_bytes: 64 << 20,
        ..Default::default()
    })?;
    let mut pending = 0usize;
    for rec in records {
        r.records += 1;
        let key = (rec.agency.clone(), rec.stream);
        if !decoders.contains_key(&key) {
            let opts = DecoderOptions::default().file_name(rec.stream.file_name());
            decoders.insert(key.clone(), decoder(rec.stream.format(), &opts)?);
        }
        let dec = decoders.get_mut(&key).expect("inserted");
        // The event the sensor makes of the record in the files `canhgac simulate --out` writes.
        let place = layout.place(&rec);
        let decoded = match dec.decode(&rec.bytes) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(_) => {
                r.undecodable += 1;
                continue;
            }
        };
        let event = place.event(&rec, decoded);
        r.events += 1;
        detector.detect(&rec.agency, &event, iocs, &mut dets);
        for d in dets.drain(..) {
            r.detections += 1;
            if rec.truth_id.is_some() {
                r.attack_detections += 1;
                *r.attack_by_rule
                    .entry((d.rule.id.clone(), d.rule.title.clone()))
                    .or_insert(0) += 1;
            } else {
                r.benign_detections += 1;
                *r.benign_by_rule
                    .entry((d.rule.id.clone(), d.rule.title.clone()))
                    .or_insert(0) += 1;
            }
            let json = serde_json::to_vec(&d).expect("a detection serializes");
            index.add_detection(&d, &json)?;
            pending += 1;
            if pending >= COMMIT_EVERY {
                index.commit()?;
                pending = 0;
            }
        }
    }
    index.commit()?;
    let read = IncidentIndex::of(&index)?;
    read.reload()?;
    r.incidents = index_incidents(&read)?;
    Ok(r)
}

/// Every incident of an index, as the national centre sees it (oldest first), paging through
/// the search API.
pub fn index_incidents(index: &IncidentIndex) -> Result<Vec<Incident>, SimError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let mut req = SearchRequest::new(Scope::All, "*");
        req.sort = Sort::Oldest;
        req.limit = PAGE;
        req.cursor = cursor.take();
        let page = index.search(&req)?;
        for hit in &page.hits {
            if let Record::Incident(rec) = &hit.record {
                out.push(Incident::from_record(rec));
            }
        }
        match page.next_cursor {
            Some(c) if !page.hits.is_empty() => cursor = Some(c),
            _ => break,
        }
    }
    Ok(out)
}

/// Groups detections by their own incident id into [`Incident`]s, ordered by first time: the
/// grouping the detections carry, not necessarily the index's ([`index_incidents`] reads
/// that). Each detection counts once per call: pass distinct ones.
pub fn incidents<'a>(detections: impl IntoIterator<Item = &'a Detection>) -> Vec<Incident> {
    let mut map: HashMap<Id, Incident> = HashMap::new();
    for d in detections {
        let inc = map.entry(d.incident_id).or_insert_with(|| Incident {
            id: d.incident_id,
            agency: d.agency.clone(),
            category: d.category,
            rule_ids: Vec::new(),
            rule_titles: Vec::new(),
            group_key: d.group_key.clone(),
            first: d.timestamp,
            last: d.timestamp,
            count: 0,
            entities: HashSet::new(),
        });
        inc.count += 1;
        inc.first = inc.first.min(d.timestamp);
        inc.last = inc.last.max(d.timestamp);
        if !inc.rule_ids.contains(&d.rule.id) {
            inc.rule_ids.push(d.rule.id.clone());
            inc.rule_titles.push(d.rule.title.clone());
        }
        add_entities(&mut inc.entities, &d.entities, &d.group_key);
    }
    let mut v: Vec<Incident> = map.into_values().collect();
    v.sort_by(|a, b| a.first.cmp(&b.first).then(a.id.cmp(&b.id)));
    v
}

/// Whether `inc` matches the attack `t` (see the module docs).
pub fn matches(inc: &Incident, t: &TruthIncident) -> bool {
    let slack = Duration::minutes(SLACK_MINUTES);
    inc.agency == t.agency
        && inc.category == t.category
        && inc.first <= t.last_time + slack
        && inc.last >= t.first_time - slack
        && t.entities
            .iter()
            .any(|e| inc.entities.contains(&e.to_ascii_lowercase()))
}

/// The figures of one national class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassScore {
    /// Attacks of the class (truth).
    #[serde(rename = "attacks")]
    pub truth: usize,
    /// Campaigns those attacks belong to.
    pub campaigns: usize,
    /// Attacks matched by at least one incident.
    pub found: usize,
    /// Incidents of the class.
    pub incidents: usize,
    /// Incidents of the class matching at least one attack.
    pub true_incidents: usize,
    pub recall: f64,
    pub precision: f64,
    /// Σ over attacks of the incidents matching it / attacks: 1.0 when each attack is one
    /// incident.
    pub incidents_per_attack: f64,
    /// The most incidents one attack was split into.
    pub max_incidents_per_attack: usize,
    pub missed: Vec<String>,
    /// Incidents matching no attack: (agency, rule titles, group key).
    pub false_incidents: Vec<(String, String, String)>,
}

/// Scores per national class, and the other categories' incident counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Score {
    pub classes: BTreeMap<Category, ClassScore>,
    /// Incidents of categories outside the national classes, per category.
    pub other: BTreeMap<Category, usize>,
}

impl Score {
    pub fn class(&self, c: Category) -> ClassScore {
        self.classes.get(&c).cloned().unwrap_or_default()
    }
}

/// Scores `incidents` against the attacks in `truth`.
pub fn score(incidents: &[Incident], truth: &[TruthIncident]) -> Score {
    let mut s = Score::default();
    for i in incidents {
        if !Category::NATIONAL.contains(&i.category) {
            *s.other.entry(i.category).or_insert(0) += 1;
        }
    }
    for c in Category::NATIONAL {
        let ts: Vec<&TruthIncident> = truth.iter().filter(|t| t.category == c).collect();
        let is: Vec<&Incident> = incidents.iter().filter(|i| i.category == c).collect();
        let campaigns: HashSet<&str> = ts
            .iter()
            .map(|t| t.campaign.as_deref().unwrap_or(&t.truth_id))
            .collect();
        let mut cs = ClassScore {
            truth: ts.len(),
            campaigns: campaigns.len(),
            incidents: is.len(),
            ..Default::default()
        };
        let mut fanout = 0usize;
        for t in &ts {
            let n = is.iter().filter(|i| matches(i, t)).count();
            if n > 0 {
                cs.found += 1;
                fanout += n;
                cs.max_incidents_per_attack = cs.max_incidents_per_attack.max(n);
            } else {
                cs.missed.push(t.truth_id.clone());
            }
        }
        for i in &is {
            if ts.iter().any(|t| matches(i, t)) {
                cs.true_incidents += 1;
            } else {
                cs.false_incidents.push((
                    i.agency.clone(),
                    i.rule_titles.join(" | "),
                    i.group_key.clone(),
                ));
            }
        }
        cs.recall = if cs.truth == 0 {
            1.0
        } else {
            cs.found as f64 / cs.truth as f64
        };
        cs.precision = if cs.incidents == 0 {
            1.0
        } else {
            cs.true_incidents as f64 / cs.incidents as f64
        };
        cs.incidents_per_attack = if cs.truth == 0 {
            0.0
        } else {
            fanout as f64 / cs.truth as f64
        };
        s.classes.insert(c, cs);
    }
    s
}

/// A plain-text table of a score: the national classes, then the other categories.
pub fn render(score: &Score) -> String {
    let mut out = String::from(
        "category     attacks  found  recall  incidents  true  precision  incidents/attack  max  campaigns\n",
    );
    for (c, cs) in &score.classes {
        out.push_str(&format!(
            "{:<12} {:>7}  {:>5}  {:>6.3}  {:>9}  {:>4}  {:>9.3}  {:>16.2}  {:>3}  {:>9}\n",
            c.as_str(),
            cs.truth,
            cs.found,
            cs.recall,
            cs.incidents,
            cs.true_incidents,
            cs.precision,
            cs.incidents_per_attack,
            cs.max_incidents_per_attack,
            cs.campaigns
        ));
    }
    if !score.other.is_empty() {
        out.push_str("other categories (not attacks of the national classes): ");
        let parts: Vec<String> = score
            .other
            .iter()
            .map(|(c, n)| format!("{} {n}", c.as_str()))
            .collect();
        out.push_str(&parts.join(", "));
        out.push_str(" incidents\n");
    }
    out
}
