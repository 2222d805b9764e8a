//! The alert an agency receives: JSON on Kafka and webhooks, a Vietnamese or English e-mail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use canhgac_core::detection::{vietnam, Bilingual, Entities, SystemRef};
use canhgac_core::registry::AgencyConfig;
use canhgac_core::{Category, Detection, Id, Level, Priority};

use crate::decision::{IncidentState, Reason};

/// Version of the alert JSON.
pub const ALERT_SCHEMA_VERSION: u16 = 1;

/// One alert: an incident at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    #[serde(rename = "v")]
    pub schema: u16,
    pub incident_id: Id,
    /// 1 for the first alert of the incident, +1 for each escalation.
    pub revision: u32,
    /// `<incident id>:<revision>`: the same for every delivery (and repeat) of this alert.
    pub idempotency_key: String,
    pub reasons: Vec<Reason>,
    pub agency: String,
    pub agency_name_vi: String,
    pub agency_name_en: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemRef>,
    pub category: Category,
    pub priority: Priority,
    /// Distinct detections so far.
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub month: u32,
    pub group_key: String,
    pub rule_id: String,
    pub rule_title: String,
    pub rule_level: Level,
    /// Credited wherever a match is shown (Sigma DRL 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_author: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    #[serde(default, skip_serializing_if = "Entities::is_empty")]
    pub entities: Entities,
    pub guidance: Bilingual,
    /// The detection that triggered this alert.
    pub detection_id: Id,
    /// `<public url>/ack/<signed token>`: opens a page that asks to confirm the acknowledgement
    /// (a GET changes nothing). Absent when notify has no public URL or no secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_url: Option<String>,
}

/// The idempotency key of an incident's alert at a revision.
pub fn idempotency_key(incident: &Id, revision: u32) -> String {
    format!("{incident}:{revision}")
}

impl Alert {
    /// The alert for `det` that moved its incident to `state` for `reasons`.
    pub fn new(
        det: &Detection,
        state: &IncidentState,
        reasons: Vec<Reason>,
        agency: Option<&AgencyConfig>,
    ) -> Alert {
        Alert {
            schema: ALERT_SCHEMA_VERSION,
            incident_id: det.incident_id,
            revision: state.revision,
            idempotency_key: idempotency_key(&det.incident_id, state.revision),
            reasons,
            agency: det.agency.clone(),
            agency_name_vi: agency.map(|a| a.name_vi.clone()).unwrap_or_default(),
            agency_name_en: agency.map(|a| a.name_en.clone()).unwrap_or_default(),
            system: det.system.clone(),
            category: det.category,
            priority: state.priority,
            count: state.count,
            first_seen: state.first_seen,
            last_seen: state.last_seen,
            month: det.month,
            group_key: det.group_key.clone(),
            rule_id: det.rule.id.clone(),
            rule_title: det.rule.title.clone(),
            rule_level: det.rule.level,
            rule_author: det.rule.author.clone(),
            techniques: det.rule.techniques.clone(),
            entities: det.entities.clone(),
            guidance: det.guidance.clone(),
            detection_id: det.id,
            ack_url: None,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("alert serialises")
    }

    /// E-mail subject and plain-text body in `lang` (`vi` or `en`).
    pub fn email(&self, lang: &str) -> (String, String) {
        let vi = lang == "vi";
        let t = |vi_s: &'static str, en_s: &'static str| if vi { vi_s } else { en_s };
        let local = |d: DateTime<Utc>| {
            d.with_timezone(&vietnam())
                .format("%Y-%m-%d %H:%M:%S (UTC+7)")
                .to_string()
        };
        let category = if vi {
            self.category.name_vi()
        } else {
            self.category.name_en()
        };
        let what = if self.revision == 1 {
            t("Sự cố mới", "New incident")
        } else {
            t("Sự cố leo thang", "Incident escalated")
        };
        let subject = format!(
            "[canhgac {}] {what}: {category} — {} ({})",
            self.priority.as_str().to_uppercase(),
            self.rule_title,
            self.group_key
        );
        let mut b = String::new();
        let mut line = |k: &str, v: &str| {
            b.push_str(k);
            b.push_str(": ");
            b.push_str(v);
            b.push('\n');
        };
        let agency = if vi {
            &self.agency_name_vi
        } else {
            &self.agency_name_en
        };
        line(
            t("Cơ quan", "Agency"),
            &format!("{agency} ({})", self.agency),
        );
        if let Some(s) = &self.system {
            let name = if vi { &s.name_vi } else { &s.name_en };
            line(
                t("Hệ thống", "System"),
                &format!("{name} — {} {}", t("cấp độ", "security level"), s.level),
            );
        }
        line(t("Loại", "Category"), category);
        line(
            t("Mức ưu tiên", "Priority"),
            &self.priority.as_str().to_uppercase(),
        );
        line(
            t("Quy tắc", "Rule"),
            &format!("{} ({})", self.rule_title, self.rule_id),
        );
        if let Some(a) = &self.rule_author {
            line(t("Tác giả quy tắc", "Rule author"), a);
        }
        line(t("Đối tượng", "Subject"), &self.group_key);
        line(t("Số phát hiện", "Detections"), &self.count.to_string());
        line(t("Lần đầu", "First seen"), &local(self.first_seen));
        line(t("Gần nhất", "Last seen"), &local(self.last_seen));
        for r in &self.reasons {
            let why = match r {
                Reason::New => t("phát hiện đầu tiên", "first detection").to_string(),
                Reason::PriorityRaised { from, to } => format!(
                    "{} {} → {}",
                    t("mức ưu tiên tăng", "priority raised"),
                    from.as_str().to_uppercase(),
                    to.as_str().to_uppercase()
                ),
                Reason::CountCrossed { threshold } => format!(
                    "{} {threshold}",
                    t("số phát hiện đạt", "detections reached")
                ),
            };
            line(t("Lý do", "Reason"), &why);
        }
        line(t("Mã sự cố", "Incident id"), &self.incident_id.to_string());
        line(t("Phiên bản", "Revision"), &self.revision.to_string());
        if let Some(url) = &self.ack_url {
            line(
                t(
                    "Xác nhận đã tiếp nhận (mở liên kết rồi bấm xác nhận)",
                    "Acknowledge (open the link, then confirm)",
                ),
                url,
            );
        }
        let guidance = if vi {
            &self.guidance.vi
        } else {
            &self.guidance.en
        };
        if !guidance.is_empty() {
            b.push('\n');
            b.push_str(t("Hướng dẫn xử lý:\n", "Handling guidance:\n"));
            b.push_str(guidance);
            b.push('\n');
        }
        b.push('\n');
        b.push_str(t(
            "Đề nghị báo cáo kết quả xử lý trong vòng 5 ngày (Thông tư 20/2017/TT-BTTTT).\n",
            "Please report the outcome within 5 days (Circular 20/2017/TT-BTTTT).\n",
        ));
        (subject, b)
    }
}
