//! What `serve` shows of the index besides search and detail: whether a record is applied,
//! and the names people read instead of ids (agency, system, rule titles).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use canhgac_core::Id;
use canhgac_index::{
    IncidentDetail, IncidentIndex, IncidentRecord, Kind, Record, Scope, SearchRequest,
};
use serde_json::{json, Value};

/// Whether the index shows `record` in the incident's history.
pub(crate) fn applied(r: &IncidentRecord, record: &Id) -> bool {
    r.handling.history.iter().any(|e| e.id == *record)
}

/// Names for ids: agencies from the registry, rule titles from the index (cached).
#[derive(Clone, Default)]
pub(crate) struct Names {
    pub agencies: Arc<canhgac_index::Agencies>,
    rules: Arc<Mutex<HashMap<String, String>>>,
}

impl Names {
    pub fn new(agencies: Arc<canhgac_index::Agencies>) -> Self {
        Names {
            agencies,
            rules: Arc::default(),
        }
    }

    pub fn agency(&self, id: &str) -> String {
        self.agencies
            .0
            .get(id)
            .map_or_else(|| id.to_string(), |a| a.name_vi.clone())
    }

    /// The title of a rule: from any detection of it in the index.
    fn rule(&self, index: &IncidentIndex, id: &str) -> String {
        if let Some(t) = self.rules.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return t.clone();
        }
        let mut req = SearchRequest::new(Scope::All, format!("rule:\"{}\"", id.replace('"', "")));
        req.kind = Kind::Detections;
        req.limit = 1;
        let title = match index.search(&req) {
            Ok(r) => match r.hits.first().map(|h| &h.record) {
                Some(Record::Detection(d)) => d.rule.title.clone(),
                _ => return id.to_string(),
            },
            Err(_) => return id.to_string(),
        };
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), title.clone());
        title
    }

    /// A search answer with names: each incident hit gains `agency_name`, `system_name`,
    /// `assignee` and `close_reason` (null when none); facets become `{value, label, count}`.
    pub fn search(&self, index: &IncidentIndex, resp: &canhgac_index::SearchResponse) -> Value {
        let mut v = json!(resp);
        if let Some(hits) = v["hits"].as_array_mut() {
            for h in hits {
                let incident = h.get("kind").and_then(Value::as_str) != Some("detection");
                self.name(h, incident);
            }
        }
        if let Some(facets) = v.get_mut("facets").and_then(Value::as_object_mut) {
            for (name, list) in facets.iter_mut() {
                let Some(pairs) = list.as_array() else {
                    continue;
                };
                let named: Vec<Value> = pairs
                    .iter()
                    .map(|p| {
                        let value = p[0].as_str().unwrap_or("").to_string();
                        let label = match name.as_str() {
                            "agency" => self.agency(&value),
                            "rule" => self.rule(index, &value),
                            _ => value.clone(),
                        };
                        json!({"value": value, "label": label, "count": p[1]})
                    })
                    .collect();
                *list = Value::Array(named);
            }
        }
        v
    }

    /// An incident or a detection as JSON gains its names (`agency_name`, `system_name`); an
    /// incident also `assignee` and `close_reason` (null when none).
    pub fn name(&self, h: &mut Value, incident: bool) {
        let Some(o) = h.as_object_mut() else { return };
        if let Some(a) = o.get("agency").and_then(Value::as_str) {
            let name = self.agency(a);
            o.insert("agency_name".into(), name.into());
        }
        let system = o
            .get("system")
            .and_then(|s| s.get("name_vi"))
            .cloned()
            .unwrap_or(Value::Null);
        o.insert("system_name".into(), system);
        if incident {
            for k in ["assignee", "close_reason"] {
                o.entry(k).or_insert(Value::Null);
            }
        }
    }

    /// The incident detail with names and its handling (`handling`, also under `incident`).
    pub fn detail(&self, d: &IncidentDetail) -> Value {
        let mut v = json!(d);
        self.name(&mut v["incident"], true);
        if let Some(dets) = v["detections"].as_array_mut() {
            for det in dets {
                self.name(det, false);
            }
        }
        v["handling"] = json!(d.incident.handling);
        v["agency_name"] = json!(self.agency(&d.incident.incident.agency));
        v
    }
}
