//! The accuracy harness: replay simulated records through detection and score the incidents
//! against the ground truth.
//!
//! Replay uses the production code path offline: each record is decoded by the ingest decoder
//! of its format (one decoder per agency and stream, as one sensor per file), becomes an
//! [`Event`](canhgac_core::Event) with the id the sensor gives it in the files `canhgac
//! simulate --out` writes ([`crate::out::Layout`]), is evaluated by the Sigma engine and
//! (optionally) the IOC lists, and every match becomes a [`Detection`] through
//! `canhgac_detect::Detector` (the worker's own code) —
//! attribution, taxonomy category, priority and incident id. Detections are grouped by
//! incident id into [`Incident`]s.
//!
//! # Matching rule
//!
//! An incident *matches* a truth incident when all of these hold:
//!
//! 1. same agency;
//! 2. same category;
//! 3. the incident names one of the truth's entities (key entity, attacker or victim address,
//!    sender, C2 — compared case-insensitively) among its hosts, IPs, domains, URLs' hosts,
//!    DNS question names, mail addresses or its grouping key's value;
//! 4. the time ranges overlap, with one hour of slack on either side.
//!
//! Per category: **recall** = truth incidents matched by at least one incident / truth
//! incidents; **precision** = incidents that match at least one truth incident / incidents of
//! that category. One attack usually trips several rules (a web shell request, a PUT of the
//! index page, a defacer signature), and the incident id includes the rule, so one truth
//! incident is typically matched by several incidents: `incidents_per_truth` reports that
//! fan-out; it lowers neither figure.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use canhgac_core::detection::{Category, Detection};
use canhgac_core::Id;
use canhgac_detect::{Detector, IocSet, Ruleset};
use canhgac_ingest::{decoder, Decoder, DecoderOptions};

use crate::{SimError, SimRecord, Stream, TruthIncident};

/// Slack around truth times when matching.
pub const SLACK_MINUTES: i64 = 60;

/// Detections grouped by incident id.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: Id,
    pub agency: String,
    pub category: Category,
    pub rule_id: String,
    pub rule_title: String,
    pub group_key: String,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub count: u64,
    /// Lowercased hosts, IPs, domains, URL hosts and mail addresses of its detections.
    pub entities: HashSet<String>,
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
    pub incidents: Vec<Incident>,
}

fn url_host(u: &str) -> Option<&str> {
    let rest = u.split_once("://").map_or(u, |(_, r)| r);
    rest.split(['/', '?', '#', ':'])
        .next()
        .filter(|h| !h.is_empty())
}

fn add_entities(set: &mut HashSet<String>, d: &Detection) {
    let e = &d.entities;
    for v in e
        .ips
        .iter()
        .chain(&e.hosts)
        .chain(&e.domains)
        .chain(&e.emails)
    {
        set.insert(v.to_ascii_lowercase());
    }
    for u in &e.urls {
        if let Some(h) = url_host(u) {
            set.insert(h.to_ascii_lowercase());
        }
    }
    if let Some(h) = &d.event.ecs.host_name {
        set.insert(h.to_ascii_lowercase());
    }
    if let Some(h) = &d.event.ecs.dns_question_name {
        set.insert(h.trim_end_matches('.').to_ascii_lowercase());
    }
    // The grouping key names an entity too (`dns.question.name=evil.example`).
    if let Some((_, v)) = d.group_key.split_once('=') {
        set.insert(v.to_ascii_lowercase());
    }
}

/// Replays records through `rules` (and `iocs`, when given).
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
    let mut incidents: HashMap<Id, Incident> = HashMap::new();
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
            } else {
                r.benign_detections += 1;
                *r.benign_by_rule
                    .entry((d.rule.id.clone(), d.rule.title.clone()))
                    .or_insert(0) += 1;
            }
            add_detection(&mut incidents, &d);
        }
    }
    r.incidents = sorted(incidents);
    Ok(r)
}

fn add_detection(incidents: &mut HashMap<Id, Incident>, d: &Detection) {
    let inc = incidents.entry(d.incident_id).or_insert_with(|| Incident {
        id: d.incident_id,
        agency: d.agency.clone(),
        category: d.category,
        rule_id: d.rule.id.clone(),
        rule_title: d.rule.title.clone(),
        group_key: d.group_key.clone(),
        first: d.timestamp,
        last: d.timestamp,
        count: 0,
        entities: HashSet::new(),
    });
    inc.count += 1;
    inc.first = inc.first.min(d.timestamp);
    inc.last = inc.last.max(d.timestamp);
    add_entities(&mut inc.entities, d);
}

fn sorted(incidents: HashMap<Id, Incident>) -> Vec<Incident> {
    let mut v: Vec<Incident> = incidents.into_values().collect();
    v.sort_by(|a, b| a.first.cmp(&b.first).then(a.id.cmp(&b.id)));
    v
}

/// Groups detections — e.g. those an index holds — into [`Incident`]s by incident id, ordered
/// by first time, for [`score`]. Each detection counts once per call: pass distinct ones.
pub fn incidents<'a>(detections: impl IntoIterator<Item = &'a Detection>) -> Vec<Incident> {
    let mut map = HashMap::new();
    for d in detections {
        add_detection(&mut map, d);
    }
    sorted(map)
}

/// Whether `inc` matches `t` (see the module docs).
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

/// The figures of one category.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassScore {
    pub truth: usize,
    pub found: usize,
    pub incidents: usize,
    pub true_incidents: usize,
    pub recall: f64,
    pub precision: f64,
    /// Incidents per found truth incident (rules tripped per attack).
    pub incidents_per_truth: f64,
    pub missed: Vec<String>,
    /// Incidents matching no truth: (agency, rule title, group key).
    pub false_incidents: Vec<(String, String, String)>,
}

/// Scores per category (every category that has truth or incidents).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Score {
    pub classes: BTreeMap<Category, ClassScore>,
}

impl Score {
    pub fn class(&self, c: Category) -> ClassScore {
        self.classes.get(&c).cloned().unwrap_or_default()
    }
}

/// Scores `incidents` against `truth`.
pub fn score(incidents: &[Incident], truth: &[TruthIncident]) -> Score {
    let mut s = Score::default();
    let cats: HashSet<Category> = incidents
        .iter()
        .map(|i| i.category)
        .chain(truth.iter().map(|t| t.category))
        .collect();
    for c in cats {
        let ts: Vec<&TruthIncident> = truth.iter().filter(|t| t.category == c).collect();
        let is: Vec<&Incident> = incidents.iter().filter(|i| i.category == c).collect();
        let mut cs = ClassScore {
            truth: ts.len(),
            incidents: is.len(),
            ..Default::default()
        };
        let mut fanout = 0usize;
        for t in &ts {
            let n = is.iter().filter(|i| matches(i, t)).count();
            if n > 0 {
                cs.found += 1;
                fanout += n;
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
                    i.rule_title.clone(),
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
        cs.incidents_per_truth = if cs.found == 0 {
            0.0
        } else {
            fanout as f64 / cs.found as f64
        };
        s.classes.insert(c, cs);
    }
    s
}

/// A plain-text table of a score (national classes first).
pub fn render(score: &Score) -> String {
    let mut out = String::from(
        "category     truth  found  recall  incidents  true  precision  incidents/attack\n",
    );
    for (c, cs) in &score.classes {
        out.push_str(&format!(
            "{:<12} {:>5}  {:>5}  {:>6.3}  {:>9}  {:>4}  {:>9.3}  {:>16.2}\n",
            c.as_str(),
            cs.truth,
            cs.found,
            cs.recall,
            cs.incidents,
            cs.true_incidents,
            cs.precision,
            cs.incidents_per_truth
        ));
    }
    out
}
