//! Campaigns in the national view: incidents of different agencies that share an attack entity
//! (`IncidentRecord::campaign_keys`, the `campaign` term field of incident documents).

use canhgac_core::{Category, Id};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tantivy::query::{BooleanQuery, Occur, Query};
use tantivy::{Searcher, Term};

use crate::error::{IndexError, Result};
use crate::incident::IncidentRecord;
use crate::schema::KIND_INCIDENT;
use crate::search::{term_query, IncidentIndex};
use crate::store;

/// An incident of another agency in the same campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignPeer {
    pub id: Id,
    pub agency: String,
    pub category: Category,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl IncidentIndex {
    /// The incidents of other agencies that share a campaign key with `incident`.
    pub(crate) fn campaign_of(
        &self,
        searcher: &Searcher,
        incident: &IncidentRecord,
    ) -> Result<Vec<CampaignPeer>> {
        if incident.campaign_keys.is_empty() {
            return Ok(Vec::new());
        }
        let f = &self.fields;
        let keys: Vec<(Occur, Box<dyn Query>)> = incident
            .campaign_keys
            .iter()
            .map(|k| {
                (
                    Occur::Should,
                    term_query(Term::from_field_text(f.campaign, &k.to_hex())),
                )
            })
            .collect();
        let q = BooleanQuery::new(vec![
            (
                Occur::Must,
                term_query(Term::from_field_text(f.kind, KIND_INCIDENT)),
            ),
            (Occur::Must, Box::new(BooleanQuery::new(keys))),
        ]);
        let docs = searcher
            .search(&q, &tantivy::collector::DocSetCollector)
            .map_err(IndexError::tantivy("campaign"))?;
        let mut out = Vec::new();
        for addr in docs.into_iter().take(1000) {
            let r = store::load_incident(searcher, f, addr)?;
            if r.incident.agency == incident.incident.agency {
                continue;
            }
            out.push(CampaignPeer {
                id: r.incident.id,
                agency: r.incident.agency,
                category: r.incident.category,
                first_seen: r.incident.first_seen,
                last_seen: r.incident.last_seen,
            });
        }
        out.sort_by_key(|p| (p.first_seen, p.id));
        out.truncate(100);
        Ok(out)
    }
}
