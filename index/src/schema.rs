//! The index schema: one tantivy index holds two kinds of documents, `kind:incident` and
//! `kind:detection`, so that one commit (and its payload of consumed offsets) covers both.
//!
//! | field | type | on | what |
//! |---|---|---|---|
//! | `kind` | keyword | both | `incident` or `detection` |
//! | `id` | keyword, fast | both | the record's own id (hex); the upsert key |
//! | `incident_id` | keyword, fast | both | the incident (an incident's is its own id) |
//! | `agency`, `system`, `category`, `priority`, `status`, `rule`, `technique`, `domain`, `user`, `host`, `hash`, `email` | keyword (lowercased; technique as is), fast | both (status: incidents) | facets, filters, pivots |
//! | `ip` | ip (IPv4 as mapped IPv6), fast | both | CIDR filters |
//! | `time` | date, fast | both | incident: first seen; detection: event time. Sort key and time filters |
//! | `last_seen` | date, fast | incident | last detection |
//! | `month` | u64, fast | both | yyyymm in Asia/Ho_Chi_Minh of `time`: where an incident counts |
//! | `count`, `system_level` | u64, fast | both | distinct detections; security level 1–5 |
//! | `idkey` | u64, fast | both | first 8 bytes of the id: the sort tie-breaker for cursors |
//! | `title`, `text` | text, [`analyzer::FOLDED`] | both | rule titles; everything searchable |
//! | `title_exact`, `text_exact` | text, [`analyzer::EXACT`] | both | accent-exact twins |
//! | `source` | stored bytes | all | the record as JSON: the incident aggregate, the detection with its whole event, or the lifecycle record |
//! | `counted` | u64, fast | incident | 1 when it counts in statistics (not closed as false positive or duplicate) |
//! | `assignee`, `close_reason` | keyword, fast | incident | its handling ([`canhgac_core::lifecycle::Handling`]) |
//! | `suppressed` | keyword | detection | the suppression that marked it (it joins no incident) |
//! | `action` | keyword | record | the lifecycle record's action |

use std::net::{IpAddr, Ipv6Addr};

use canhgac_core::detection::{month_of, Detection};
use canhgac_core::lifecycle::{Action, IncidentEvent};
use canhgac_core::Id;
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, IpAddrOptions, NumericOptions,
    Schema, TextFieldIndexing, TextOptions, FAST, STORED,
};
use tantivy::{DateTime, TantivyDocument, Term};

use crate::analyzer;
use crate::incident::IncidentRecord;

/// Bumped whenever the schema or the stored JSON changes incompatibly; an index of another
/// version is refused (rebuild it from the topic).
pub const SCHEMA_VERSION: u32 = 3;

pub const KIND_INCIDENT: &str = "incident";
pub const KIND_DETECTION: &str = "detection";
/// The old id of an incident that was renamed or merged into another (`incident_id`: the new).
pub const KIND_ALIAS: &str = "alias";
/// A lifecycle record ([`canhgac_core::lifecycle::IncidentEvent`]), kept whether or not its
/// anchor detection is indexed yet (`link`: the [`record_ref`] of every detection it names).
pub const KIND_RECORD: &str = "record";

/// The fields, resolved once.
#[derive(Debug, Clone)]
pub struct Fields {
    pub schema: Schema,
    pub kind: Field,
    pub id: Field,
    pub incident_id: Field,
    pub agency: Field,
    pub system: Field,
    pub system_level: Field,
    pub category: Field,
    pub priority: Field,
    pub status: Field,
    pub rule: Field,
    pub technique: Field,
    pub domain: Field,
    pub user: Field,
    pub host: Field,
    pub hash: Field,
    pub email: Field,
    pub ip: Field,
    pub time: Field,
    pub last_seen: Field,
    pub month: Field,
    pub count: Field,
    pub idkey: Field,
    /// Incident documents: the link keys of their detections (`crate::group`).
    pub link: Field,
    /// Incident documents: their campaign keys (attack entities without the agency).
    pub campaign: Field,
    pub title: Field,
    pub title_exact: Field,
    pub text: Field,
    pub text_exact: Field,
    pub source: Field,
    /// Incident documents: 1 when the incident counts in statistics, 0 when it was closed as
    /// false positive or duplicate (the policy's uncounted reasons).
    pub counted: Field,
    /// Incident documents: the person it is assigned to.
    pub assignee: Field,
    /// Incident documents: why it was closed.
    pub close_reason: Field,
    /// Detection documents marked by a suppression: its id (hex).
    pub suppressed: Field,
    /// Record documents: their action (`resolve`, `suppress`, …).
    pub action: Field,
}

/// The keyword fields a query may name, in the order facets and help list them.
pub const KEYWORD_FIELDS: &[&str] = &[
    "agency",
    "system",
    "category",
    "priority",
    "status",
    "rule",
    "technique",
    "domain",
    "user",
    "host",
    "hash",
    "email",
];

impl Fields {
    pub fn new() -> Fields {
        let mut b = Schema::builder();
        let raw = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_fast("raw");
        let kw = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(analyzer::KEYWORD)
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_fast("raw");
        let text = |name: &str| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(name)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
        };
        let date = DateOptions::default()
            .set_indexed()
            .set_fast()
            .set_precision(DateTimePrecision::Seconds);
        let num = NumericOptions::default().set_indexed().set_fast();
        let kind = b.add_text_field("kind", raw.clone());
        let id = b.add_text_field("id", raw.clone());
        // Stored: a detection's incident is the index's, not the one in its JSON source.
        let incident_id = b.add_text_field("incident_id", raw.clone().set_stored());
        let link_opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic),
        );
        let agency = b.add_text_field("agency", kw.clone());
        let system = b.add_text_field("system", kw.clone());
        let system_level = b.add_u64_field("system_level", num.clone());
        let category = b.add_text_field("category", kw.clone());
        let priority = b.add_text_field("priority", kw.clone());
        let status = b.add_text_field("status", kw.clone());
        let rule = b.add_text_field("rule", kw.clone());
        let technique = b.add_text_field("technique", raw.clone());
        let domain = b.add_text_field("domain", kw.clone());
        let user = b.add_text_field("user", kw.clone());
        let host = b.add_text_field("host", kw.clone());
        let hash = b.add_text_field("hash", kw.clone());
        let email = b.add_text_field("email", kw);
        let ip = b.add_ip_addr_field("ip", IpAddrOptions::default().set_indexed().set_fast());
        let time = b.add_date_field("time", date.clone());
        let last_seen = b.add_date_field("last_seen", date);
        let month = b.add_u64_field("month", num.clone());
        let count = b.add_u64_field("count", num.clone());
        let idkey = b.add_u64_field("idkey", FAST);
        let link = b.add_text_field("link", link_opts.clone());
        let campaign = b.add_text_field("campaign", link_opts);
        let title = b.add_text_field("title", text(analyzer::FOLDED));
        let title_exact = b.add_text_field("title_exact", text(analyzer::EXACT));
        let text_f = b.add_text_field("text", text(analyzer::FOLDED));
        let text_exact = b.add_text_field("text_exact", text(analyzer::EXACT));
        let source = b.add_bytes_field("source", STORED);
        let counted = b.add_u64_field("counted", num.clone());
        let assignee = b.add_text_field("assignee", raw.clone());
        let close_reason = b.add_text_field("close_reason", raw.clone());
        let suppressed = b.add_text_field("suppressed", raw.clone());
        let action = b.add_text_field("action", raw);
        Fields {
            schema: b.build(),
            kind,
            id,
            incident_id,
            agency,
            system,
            system_level,
            category,
            priority,
            status,
            rule,
            technique,
            domain,
            user,
            host,
            hash,
            email,
            ip,
            time,
            last_seen,
            month,
            count,
            idkey,
            link,
            campaign,
            title,
            title_exact,
            text: text_f,
            text_exact,
            source,
            counted,
            assignee,
            close_reason,
            suppressed,
            action,
        }
    }

    /// Resolves the fields of an existing index's schema.
    pub fn from_schema(schema: &Schema) -> Option<Fields> {
        let f = Fields::new();
        // The schema is ours when it has exactly our fields with our options.
        (f.schema == *schema).then_some(f)
    }

    pub fn id_term(&self, id: &Id) -> Term {
        Term::from_field_text(self.id, &id.to_hex())
    }

    pub fn incident_term(&self, id: &Id) -> Term {
        Term::from_field_text(self.incident_id, &id.to_hex())
    }

    /// A lowercased keyword term, as the keyword analyzer indexes it.
    pub fn keyword_term(&self, field: Field, value: &str) -> Term {
        Term::from_field_text(field, &value.to_lowercase())
    }
}

impl Default for Fields {
    fn default() -> Self {
        Self::new()
    }
}

/// The sort tie-breaker: the id's first 8 bytes, big-endian.
pub fn idkey(id: &Id) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(b)
}

/// IPv4 as IPv4-mapped IPv6 (`::ffff:a.b.c.d`), the way tantivy stores it.
pub fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

pub(crate) fn date(t: chrono::DateTime<chrono::Utc>) -> DateTime {
    DateTime::from_timestamp_micros(t.timestamp_micros())
}

fn add_lower(doc: &mut TantivyDocument, field: Field, values: &[String]) {
    for v in values {
        doc.add_text(field, v.to_lowercase());
    }
}

fn add_ips<'a>(doc: &mut TantivyDocument, field: Field, values: impl Iterator<Item = &'a str>) {
    let mut seen: Vec<Ipv6Addr> = Vec::new();
    for v in values {
        if let Ok(ip) = v.parse::<IpAddr>() {
            let v6 = to_v6(ip);
            if !seen.contains(&v6) {
                seen.push(v6);
                doc.add_ip_addr(field, v6);
            }
        }
    }
}

/// Builds the document of a detection. `json` is the detection serialised (stored as is).
/// The document of a detection in `incident` (the index's grouping; the JSON source keeps the
/// detect worker's provisional incident id).
pub fn detection_doc(f: &Fields, d: &Detection, incident: &Id, json: &[u8]) -> TantivyDocument {
    let mut doc = detection_doc_unassigned(f, d, json);
    doc.add_text(f.incident_id, incident.to_hex());
    doc
}

/// [`detection_doc`] without its incident, which the indexer adds when the batch is written
/// (`incident_id`: the field's place in the document does not matter).
pub fn detection_doc_unassigned(f: &Fields, d: &Detection, json: &[u8]) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.kind, KIND_DETECTION);
    doc.add_text(f.id, d.id.to_hex());
    doc.add_text(f.agency, d.agency.to_lowercase());
    doc.add_text(f.category, d.category.as_str());
    doc.add_text(f.priority, d.priority.as_str());
    doc.add_text(f.rule, d.rule.id.to_lowercase());
    for t in &d.rule.techniques {
        doc.add_text(f.technique, t);
    }
    if let Some(s) = &d.system {
        doc.add_text(f.system, s.id.to_lowercase());
        doc.add_u64(f.system_level, u64::from(s.level));
    }
    let e = &d.entities;
    add_lower(&mut doc, f.domain, &e.domains);
    add_lower(&mut doc, f.user, &e.users);
    add_lower(&mut doc, f.host, &e.hosts);
    add_lower(&mut doc, f.hash, &e.hashes);
    add_lower(&mut doc, f.email, &e.emails);
    let ecs = &d.event.ecs;
    let event_ips = [ecs.source_ip, ecs.destination_ip, ecs.host_ip]
        .into_iter()
        .flatten()
        .map(|ip| ip.to_string())
        .collect::<Vec<_>>();
    add_ips(
        &mut doc,
        f.ip,
        e.ips.iter().chain(event_ips.iter()).map(String::as_str),
    );
    doc.add_date(f.time, date(d.timestamp));
    doc.add_u64(f.month, u64::from(month_of(d.timestamp)));
    doc.add_u64(f.idkey, idkey(&d.id));
    doc.add_text(f.title, &d.rule.title);
    doc.add_text(f.title_exact, &d.rule.title);
    let text = detection_text(d);
    doc.add_text(f.text, &text);
    doc.add_text(f.text_exact, &text);
    doc.add_bytes(f.source, json);
    doc
}

/// Everything searchable about a detection, as one text.
fn detection_text(d: &Detection) -> String {
    let mut parts: Vec<&str> = vec![&d.rule.title, &d.group_key, &d.agency];
    if let Some(a) = &d.rule.author {
        parts.push(a);
    }
    if let Some(s) = &d.system {
        parts.push(&s.name_vi);
        parts.push(&s.name_en);
    }
    parts.push(&d.guidance.vi);
    parts.push(&d.guidance.en);
    if let Some(i) = &d.ioc {
        parts.push(&i.indicator);
        parts.push(&i.list);
        parts.push(&i.value);
    }
    let ecs = &d.event.ecs;
    for v in [
        &ecs.message,
        &ecs.email_subject,
        &ecs.url_full,
        &ecs.process_command_line,
        &ecs.process_executable,
        &ecs.file_path,
        &ecs.dns_question_name,
        &ecs.rule_name,
        &ecs.user_agent,
    ]
    .into_iter()
    .flatten()
    {
        parts.push(v);
    }
    let mut text = parts.join("\n");
    push_entities(&mut text, &d.entities);
    text
}

fn push_entities(text: &mut String, e: &canhgac_core::detection::Entities) {
    for list in [
        &e.ips, &e.hosts, &e.users, &e.domains, &e.urls, &e.hashes, &e.emails,
    ] {
        for v in list {
            text.push('\n');
            text.push_str(v);
        }
    }
}

/// Builds the document of an incident aggregate.
pub fn incident_doc(f: &Fields, r: &IncidentRecord, json: &[u8]) -> TantivyDocument {
    let i = &r.incident;
    let mut doc = TantivyDocument::default();
    doc.add_text(f.kind, KIND_INCIDENT);
    doc.add_text(f.id, i.id.to_hex());
    doc.add_text(f.incident_id, i.id.to_hex());
    doc.add_text(f.agency, i.agency.to_lowercase());
    doc.add_text(f.category, i.category.as_str());
    doc.add_text(f.priority, i.priority.as_str());
    doc.add_text(f.status, i.status.as_str());
    for r in &i.rule_ids {
        doc.add_text(f.rule, r.to_lowercase());
    }
    for t in &i.techniques {
        doc.add_text(f.technique, t);
    }
    if let Some(s) = &i.system {
        doc.add_text(f.system, s.id.to_lowercase());
        doc.add_u64(f.system_level, u64::from(s.level));
    }
    let e = &i.entities;
    add_lower(&mut doc, f.domain, &e.domains);
    add_lower(&mut doc, f.user, &e.users);
    add_lower(&mut doc, f.host, &e.hosts);
    add_lower(&mut doc, f.hash, &e.hashes);
    add_lower(&mut doc, f.email, &e.emails);
    add_ips(&mut doc, f.ip, e.ips.iter().map(String::as_str));
    doc.add_date(f.time, date(i.first_seen));
    doc.add_date(f.last_seen, date(i.last_seen));
    doc.add_u64(f.month, u64::from(i.month));
    doc.add_u64(f.count, i.count);
    doc.add_u64(f.idkey, idkey(&i.id));
    doc.add_u64(f.counted, u64::from(r.handling.counted));
    if let Some(a) = &i.assignee {
        doc.add_text(f.assignee, a);
    }
    if let Some(c) = i.close_reason {
        doc.add_text(f.close_reason, c.as_str());
    }
    for k in &r.links {
        doc.add_text(f.link, k.key.to_hex());
    }
    for k in &r.joins {
        doc.add_text(f.link, k.to_hex());
    }
    for k in &r.campaign_keys {
        doc.add_text(f.campaign, k.to_hex());
    }
    let titles = i.rule_titles.join("\n");
    doc.add_text(f.title, &titles);
    doc.add_text(f.title_exact, &titles);
    let mut text = format!("{titles}\n{}\n{}", i.group_key, i.agency);
    if let Some(s) = &i.system {
        text.push('\n');
        text.push_str(&s.name_vi);
        text.push('\n');
        text.push_str(&s.name_en);
    }
    for e in &r.handling.history {
        let t = e.action.text();
        if !t.is_empty() {
            text.push('\n');
            text.push_str(t);
        }
    }
    push_entities(&mut text, e);
    doc.add_text(f.text, &text);
    doc.add_text(f.text_exact, &text);
    doc.add_bytes(f.source, json);
    doc
}

/// The document that keeps an incident's old id (renamed or merged) pointing at its new one.
pub fn alias_doc(f: &Fields, old: &Id, new: &Id) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.kind, KIND_ALIAS);
    doc.add_text(f.id, old.to_hex());
    doc.add_text(f.incident_id, new.to_hex());
    doc.add_bytes(f.source, format!("{{\"alias_of\":\"{new}\"}}").as_bytes());
    doc
}

/// The link-key term of an incident document.
pub fn link_term(f: &Fields, key: &Id) -> Term {
    Term::from_field_text(f.link, &key.to_hex())
}

/// The term under which a lifecycle record naming detection `detection` is found (in the
/// record document's `link` field): its anchor, a merge's other anchor, a split's detections.
pub fn record_ref(detection: &Id) -> Id {
    canhgac_core::id::IdHasher::new("record-ref")
        .part(detection.as_bytes())
        .finish()
}

/// The document of a lifecycle record.
pub fn record_doc(f: &Fields, e: &IncidentEvent, json: &[u8]) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.kind, KIND_RECORD);
    doc.add_text(f.id, e.id.to_hex());
    doc.add_text(f.agency, e.agency.to_lowercase());
    doc.add_text(f.action, e.action.kind().as_str());
    doc.add_date(f.time, date(e.at));
    doc.add_u64(f.idkey, idkey(&e.id));
    for d in record_refs(e) {
        doc.add_text(f.link, record_ref(&d).to_hex());
    }
    doc.add_bytes(f.source, json);
    doc
}

/// The detections a record names: its anchor, a merge's other anchor, a split's detections.
pub fn record_refs(e: &IncidentEvent) -> Vec<Id> {
    let mut v = vec![e.anchor];
    match &e.action {
        Action::Merge { into_anchor, .. } => v.push(*into_anchor),
        Action::Split { detections } => v.extend(detections.iter().copied()),
        _ => {}
    }
    v.sort();
    v.dedup();
    v
}
