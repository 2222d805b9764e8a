//! Delivery state in an embedded store (redb): per incident what the notifier decided, per
//! detection whether it was seen, and per (incident, revision, channel) a delivery that is
//! pending, delivered or dead.
//!
//! [`Store::record`] decides and writes the deliveries of a batch of detections in one
//! transaction, committed with fsync before the Kafka messages are acknowledged; deliveries run
//! from the store, so a restart loses none, and a delivery repeats only if the process died
//! between sending it and recording it as delivered (same idempotency key).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use canhgac_core::registry::{ChannelConfig, Registry};
use canhgac_core::{Detection, Id};

use crate::ack::AckLinks;
use crate::alert::Alert;
use crate::decision::{decide, IncidentState, Reason};
use crate::error::{NotifyError, Result};

const INCIDENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("incidents");
const SEEN: TableDefinition<&str, u8> = TableDefinition::new("seen_detections");
const DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("deliveries");
const PENDING: TableDefinition<&str, u64> = TableDefinition::new("pending");

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

/// One alert to one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `<incident id>:<revision>:<channel>`.
    pub key: String,
    pub agency: String,
    /// `kafka`, `webhook.<n>` or `email.<n>` (n: the channel's position in the registry).
    pub channel: String,
    /// The channel as configured when the alert was decided.
    pub target: ChannelConfig,
    pub alert: Alert,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Not before this time (Unix ms).
    pub next_at_ms: u64,
    pub created_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Delivery {
    /// The channel kind (`kafka`, `webhook`, `email`), for metrics.
    pub fn kind(&self) -> &'static str {
        channel_kind(&self.target)
    }
}

pub fn channel_kind(c: &ChannelConfig) -> &'static str {
    match c {
        ChannelConfig::Kafka {} => "kafka",
        ChannelConfig::Webhook { .. } => "webhook",
        ChannelConfig::Email { .. } => "email",
    }
}

/// The outcome of recording one detection.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Seen before (a replay): nothing changes.
    Duplicate,
    /// Counted, no alert.
    Quiet,
    /// An alert with these reasons, and its deliveries (none if the agency has no channels).
    Alert(Vec<Reason>, Vec<Delivery>),
}

/// What a batch is decided with, besides the store's own state.
#[derive(Debug, Clone, Default)]
pub struct Deciding {
    /// Detection counts that make an escalation alert.
    pub thresholds: Vec<u64>,
    /// Alert keys (incident ids of the detections) whose incident people closed: no alert.
    pub closed: HashSet<Id>,
    /// Acknowledge links for the alerts, when configured.
    pub links: Option<AckLinks>,
}

impl Deciding {
    pub fn new(thresholds: &[u64]) -> Self {
        Deciding {
            thresholds: thresholds.to_vec(),
            ..Default::default()
        }
    }
}

/// The delivery store.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens (creating) the store `notify.redb` in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        let err = |m: String| NotifyError::Store {
            path: dir.to_path_buf(),
            message: m,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let path = dir.join("notify.redb");
        let db = Database::create(&path).map_err(|e| err(e.to_string()))?;
        let tx = db.begin_write().map_err(|e| err(e.to_string()))?;
        {
            tx.open_table(INCIDENTS).map_err(|e| err(e.to_string()))?;
            tx.open_table(SEEN).map_err(|e| err(e.to_string()))?;
            tx.open_table(DELIVERIES).map_err(|e| err(e.to_string()))?;
            tx.open_table(PENDING).map_err(|e| err(e.to_string()))?;
        }
        tx.commit().map_err(|e| err(e.to_string()))?;
        Ok(Store { db, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decides a batch of detections and records their deliveries, in one durable transaction.
    /// Alerts go to the channels `registry` lists for the detection's agency.
    pub fn record(
        &self,
        detections: &[Detection],
        deciding: &Deciding,
        registry: &Registry,
        now_ms: u64,
    ) -> Result<Vec<Recorded>> {
        let now = chrono::DateTime::from_timestamp_millis(now_ms as i64).unwrap_or_default();
        let tx = self.db.begin_write().map_err(NotifyError::store)?;
        let mut out = Vec::with_capacity(detections.len());
        {
            let mut incidents = tx.open_table(INCIDENTS).map_err(NotifyError::store)?;
            let mut seen = tx.open_table(SEEN).map_err(NotifyError::store)?;
            let mut deliveries = tx.open_table(DELIVERIES).map_err(NotifyError::store)?;
            let mut pending = tx.open_table(PENDING).map_err(NotifyError::store)?;
            for det in detections {
                let did = det.id.to_hex();
                if seen
                    .get(did.as_str())
                    .map_err(NotifyError::store)?
                    .is_some()
                {
                    out.push(Recorded::Duplicate);
                    continue;
                }
                seen.insert(did.as_str(), 1).map_err(NotifyError::store)?;
                let iid = det.incident_id.to_hex();
                let prev: Option<IncidentState> = incidents
                    .get(iid.as_str())
                    .map_err(NotifyError::store)?
                    .map(|v| serde_json::from_slice(v.value()))
                    .transpose()
                    .map_err(NotifyError::store)?;
                let closed = deciding.closed.contains(&det.incident_id);
                let decision = decide(prev.as_ref(), det, &deciding.thresholds, closed);
                let state = serde_json::to_vec(&decision.state).expect("state serialises");
                incidents
                    .insert(iid.as_str(), state.as_slice())
                    .map_err(NotifyError::store)?;
                if !decision.alerts() {
                    out.push(Recorded::Quiet);
                    continue;
                }
                let cfg = registry.agency(&det.agency);
                let mut alert = Alert::new(det, &decision.state, decision.reasons.clone(), cfg);
                alert.ack_url = deciding
                    .links
                    .as_ref()
                    .map(|l| l.url(&det.agency, det.id, now));
                let mut made = Vec::new();
                // An agency missing from the registry still gets its alert, on its own topic.
                let fallback = [ChannelConfig::Kafka {}];
                let channels = match cfg {
                    Some(a) => a.channels.as_slice(),
                    None => {
                        tracing::warn!(
                            agency = %det.agency,
                            incident = %alert.idempotency_key,
                            "agency not in the registry: alert goes to its Kafka topic only"
                        );
                        &fallback
                    }
                };
                for (i, ch) in channels.iter().enumerate() {
                    let channel = match ch {
                        ChannelConfig::Kafka {} => "kafka".to_string(),
                        other => format!("{}.{i}", channel_kind(other)),
                    };
                    let d = Delivery {
                        key: format!("{}:{channel}", alert.idempotency_key),
                        agency: det.agency.clone(),
                        channel,
                        target: ch.clone(),
                        alert: alert.clone(),
                        status: DeliveryStatus::Pending,
                        attempts: 0,
                        next_at_ms: now_ms,
                        created_ms: now_ms,
                        last_error: None,
                    };
                    let bytes = serde_json::to_vec(&d).expect("delivery serialises");
                    deliveries
                        .insert(d.key.as_str(), bytes.as_slice())
                        .map_err(NotifyError::store)?;
                    pending
                        .insert(d.key.as_str(), now_ms)
                        .map_err(NotifyError::store)?;
                    made.push(d);
                }
                out.push(Recorded::Alert(decision.reasons, made));
            }
        }
        tx.commit().map_err(NotifyError::store)?;
        Ok(out)
    }

    /// Pending deliveries due at `now_ms`, earliest first, at most `limit`, skipping `busy`.
    /// Also returns the earliest `next_at_ms` of the pending ones not returned.
    pub fn due(
        &self,
        now_ms: u64,
        limit: usize,
        busy: &HashSet<String>,
    ) -> Result<(Vec<Delivery>, Option<u64>)> {
        let tx = self.db.begin_read().map_err(NotifyError::store)?;
        let pending = tx.open_table(PENDING).map_err(NotifyError::store)?;
        let mut due: Vec<(u64, String)> = Vec::new();
        let mut later: Option<u64> = None;
        for item in pending.iter().map_err(NotifyError::store)? {
            let (k, v) = item.map_err(NotifyError::store)?;
            let (k, at) = (k.value(), v.value());
            if busy.contains(k) {
                continue;
            }
            if at <= now_ms {
                due.push((at, k.to_string()));
            } else {
                later = Some(later.map_or(at, |l: u64| l.min(at)));
            }
        }
        due.sort();
        if due.len() > limit {
            let rest = due.split_off(limit);
            if let Some((at, _)) = rest.first() {
                later = Some(later.map_or(*at, |l| l.min(*at)));
            }
        }
        let deliveries = tx.open_table(DELIVERIES).map_err(NotifyError::store)?;
        let mut out = Vec::with_capacity(due.len());
        for (_, k) in due {
            if let Some(v) = deliveries.get(k.as_str()).map_err(NotifyError::store)? {
                out.push(serde_json::from_slice(v.value()).map_err(NotifyError::store)?);
            }
        }
        Ok((out, later))
    }

    /// Writes a delivery's new state: pending ones stay in the pending table with their new
    /// time, delivered and dead ones leave it.
    pub fn update(&self, d: &Delivery) -> Result<()> {
        let tx = self.db.begin_write().map_err(NotifyError::store)?;
        {
            let mut deliveries = tx.open_table(DELIVERIES).map_err(NotifyError::store)?;
            let mut pending = tx.open_table(PENDING).map_err(NotifyError::store)?;
            let bytes = serde_json::to_vec(d).expect("delivery serialises");
            deliveries
                .insert(d.key.as_str(), bytes.as_slice())
                .map_err(NotifyError::store)?;
            if d.status == DeliveryStatus::Pending {
                pending
                    .insert(d.key.as_str(), d.next_at_ms)
                    .map_err(NotifyError::store)?;
            } else {
                pending.remove(d.key.as_str()).map_err(NotifyError::store)?;
            }
        }
        tx.commit().map_err(NotifyError::store)
    }

    /// A delivery by key.
    pub fn get(&self, key: &str) -> Result<Option<Delivery>> {
        let tx = self.db.begin_read().map_err(NotifyError::store)?;
        let t = tx.open_table(DELIVERIES).map_err(NotifyError::store)?;
        t.get(key)
            .map_err(NotifyError::store)?
            .map(|v| serde_json::from_slice(v.value()).map_err(NotifyError::store))
            .transpose()
    }

    /// Deliveries waiting.
    pub fn pending_len(&self) -> Result<u64> {
        let tx = self.db.begin_read().map_err(NotifyError::store)?;
        let t = tx.open_table(PENDING).map_err(NotifyError::store)?;
        t.len().map_err(NotifyError::store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canhgac_core::detection::{Bilingual, Entities, RuleKind, RuleRef};
    use canhgac_core::registry::RawRegistry;
    use canhgac_core::{Category, Dataset, Event, Id, Level, Priority, SourceKind, SourceRef};

    fn registry() -> Registry {
        let text = r#"
[[agency]]
id = "byt"
name_vi = "Bộ Y tế"
name_en = "Ministry of Health"
  [[agency.channel]]
  type = "kafka"
  [[agency.channel]]
  type = "email"
  to = ["a@b.vn"]
"#;
        RawRegistry::parse(text, Path::new("r.toml"))
            .unwrap()
            .validate("r")
            .unwrap()
    }

    fn det(n: u8, incident: u8, priority: Priority) -> Detection {
        Detection {
            schema: 1,
            id: Id([n; 16]),
            incident_id: Id([incident; 16]),
            agency: "byt".into(),
            system: None,
            rule: RuleRef {
                id: "r1".into(),
                title: "Rule one".into(),
                kind: RuleKind::Sigma,
                level: Level::High,
                author: Some("A. Author".into()),
                tags: vec![],
                techniques: vec![],
                references: vec![],
                falsepositives: vec![],
            },
            category: Category::Deface,
            priority,
            timestamp: chrono::DateTime::from_timestamp(1_650_000_000, 0).unwrap(),
            month: 202204,
            group_key: "moh.gov.vn".into(),
            grouping: Default::default(),
            entities: Entities::default(),
            ioc: None,
            correlation: None,
            guidance: Bilingual {
                vi: "Khôi phục trang".into(),
                en: "Restore the site".into(),
            },
            suppressed: None,
            event: Event {
                schema: 1,
                id: Id([n; 16]),
                agency: "byt".into(),
                sensor: "s".into(),
                dataset: Dataset::new(Dataset::WEB_ACCESS),
                timestamp: chrono::DateTime::from_timestamp(1_650_000_000, 0).unwrap(),
                received: chrono::DateTime::from_timestamp(1_650_000_000, 0).unwrap(),
                source: SourceRef {
                    kind: SourceKind::Simulator,
                    name: "t".into(),
                    offset: None,
                    line: None,
                },
                ecs: Default::default(),
                original: serde_json::Value::Null,
            },
        }
    }

    #[test]
    fn decisions_and_deliveries_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry();
        let store = Store::open(dir.path()).unwrap();
        let ds = [
            det(1, 9, Priority::P3),
            det(1, 9, Priority::P3), // a replay
            det(2, 9, Priority::P3),
            det(3, 9, Priority::P1),
        ];
        let out = store
            .record(&ds, &Deciding::new(&[10]), &reg, 1000)
            .unwrap();
        assert!(matches!(&out[0], Recorded::Alert(_, d) if d.len() == 2));
        assert_eq!(out[1], Recorded::Duplicate);
        assert_eq!(out[2], Recorded::Quiet);
        let Recorded::Alert(reasons, d) = &out[3] else {
            panic!("{:?}", out[3])
        };
        assert!(matches!(reasons[0], Reason::PriorityRaised { .. }));
        assert_eq!(d[0].alert.revision, 2);
        assert_eq!(d[1].channel, "email.1");
        assert_eq!(store.pending_len().unwrap(), 4);
        let (due, later) = store.due(999, 10, &HashSet::new()).unwrap();
        assert!(due.is_empty());
        assert_eq!(later, Some(1000));
        let (due, _) = store.due(1000, 10, &HashSet::new()).unwrap();
        assert_eq!(due.len(), 4);
        let mut first = due[0].clone();
        first.status = DeliveryStatus::Delivered;
        store.update(&first).unwrap();
        let mut second = due[1].clone();
        second.attempts = 1;
        second.next_at_ms = 5000;
        store.update(&second).unwrap();
        drop(store);

        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.pending_len().unwrap(), 3);
        let busy: HashSet<String> = [due[2].key.clone()].into();
        let (again, later) = store.due(1000, 10, &busy).unwrap();
        assert_eq!(again.len(), 1, "busy and not-yet-due ones are skipped");
        assert_eq!(later, Some(5000));
        assert_eq!(
            store.get(&first.key).unwrap().unwrap().status,
            DeliveryStatus::Delivered
        );
        // The replay after a restart changes nothing.
        let out = store
            .record(&ds[..1], &Deciding::new(&[10]), &reg, 2000)
            .unwrap();
        assert_eq!(out, vec![Recorded::Duplicate]);
    }

    #[test]
    fn an_agency_missing_from_the_registry_gets_its_kafka_topic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut d = det(1, 1, Priority::P3);
        d.agency = "bca".into();
        let out = store
            .record(&[d], &Deciding::new(&[10]), &registry(), 1000)
            .unwrap();
        assert_eq!(out.len(), 1);
        let (due, _) = store.due(1000, 10, &HashSet::new()).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].agency.as_str(), due[0].channel.as_str()),
            ("bca", "kafka")
        );
    }

    #[test]
    fn email_text_in_both_languages() {
        let d = det(1, 9, Priority::P2);
        let decision = crate::decision::decide(None, &d, &[10], false);
        let a = Alert::new(
            &d,
            &decision.state,
            decision.reasons,
            registry().agency("byt"),
        );
        let (subject, body) = a.email("vi");
        assert!(
            subject.contains("Sự cố mới") && subject.contains("Thay đổi giao diện"),
            "{subject}"
        );
        assert!(
            body.contains("Bộ Y tế (byt)") && body.contains("Khôi phục trang"),
            "{body}"
        );
        assert!(
            body.contains("A. Author") && body.contains("5 ngày"),
            "{body}"
        );
        let (subject, body) = a.email("en");
        assert!(
            subject.starts_with("[canhgac P2] New incident: Defacement"),
            "{subject}"
        );
        assert!(
            body.contains("Ministry of Health") && body.contains("Restore the site"),
            "{body}"
        );
        assert_eq!(a.idempotency_key, format!("{}:1", d.incident_id));
    }
}
