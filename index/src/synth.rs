//! Deterministic synthetic detections for tests and benchmarks (the `testsuite` feature): the
//! same arguments always give the same detections, ids included.

use canhgac_core::detection::{
    month_of, techniques_from_tags, vietnam, Bilingual, Detection, Entities, RuleKind, RuleRef,
    SystemRef, DETECTION_SCHEMA_VERSION,
};
use canhgac_core::event::{Dataset, Ecs, Event, SourceKind, SourceRef, EVENT_SCHEMA_VERSION};
use canhgac_core::id::{detection_id, incident_id};
use canhgac_core::{event_id, Category, Level, Priority};
use chrono::{DateTime, TimeZone, Utc};

/// Rule titles in Vietnamese and English, with the category they classify into.
pub const RULES: &[(&str, &str, Category)] = &[
    (
        "cg-deface-001",
        "Tấn công thay đổi giao diện trang web",
        Category::Deface,
    ),
    (
        "cg-deface-002",
        "Trang chủ bị chèn nội dung lạ",
        Category::Deface,
    ),
    (
        "cg-phish-001",
        "Tên miền lừa đảo giả mạo cổng dịch vụ công",
        Category::Phishing,
    ),
    (
        "cg-phish-002",
        "Thư điện tử lừa đảo đính kèm mã độc",
        Category::Phishing,
    ),
    (
        "cg-malware-001",
        "Phát hiện mã độc kết nối máy chủ điều khiển",
        Category::Malware,
    ),
    (
        "cg-malware-002",
        "Cài mã độc qua PowerShell",
        Category::Malware,
    ),
    (
        "cg-intrusion-001",
        "Xâm nhập qua lỗ hổng ứng dụng web",
        Category::Intrusion,
    ),
    ("cg-brute-001", "Dò quét mật khẩu SSH", Category::Bruteforce),
    ("cg-ddos-001", "Tấn công từ chối dịch vụ", Category::Ddos),
    ("cg-recon-001", "Rà quét cổng dịch vụ", Category::Recon),
    ("cg-leak-001", "Lộ lọt dữ liệu cá nhân", Category::DataLeak),
    ("cg-other-001", "Hoạt động bất thường", Category::Other),
];

/// Agency ids used by the generators.
pub const AGENCIES: &[&str] = &[
    "byt",
    "bca",
    "btc",
    "ubnd-ha-noi",
    "ubnd-hcm",
    "bgd",
    "btttt",
    "ubnd-da-nang",
];

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn rule_ref(rule_id: &str) -> (RuleRef, Category) {
    let (title, category) = RULES
        .iter()
        .find(|r| r.0 == rule_id)
        .map(|r| (r.1.to_string(), r.2))
        .unwrap_or_else(|| (format!("Rule {rule_id}"), Category::Other));
    let tags = vec![
        "attack.initial_access".to_string(),
        format!("attack.t{}", 1000 + (mix(rule_id.len() as u64) % 600)),
    ];
    (
        RuleRef {
            id: rule_id.to_string(),
            title,
            kind: RuleKind::Sigma,
            level: Level::High,
            author: Some("canhgac".into()),
            techniques: techniques_from_tags(&tags),
            tags,
            references: Vec::new(),
            falsepositives: Vec::new(),
        },
        category,
    )
}

/// One detection: `n` numbers the event (detections with the same `n` and rule share an id),
/// the incident is (agency, rule, group key).
pub fn detection(agency: &str, rule_id: &str, group_key: &str, unix: i64, n: u64) -> Detection {
    let t: DateTime<Utc> = Utc.timestamp_opt(unix, 0).single().unwrap_or_default();
    let (rule, category) = rule_ref(rule_id);
    let h = mix(n ^ mix(unix as u64));
    let line = format!("synthetic event {n} for {group_key}");
    let eid = event_id(agency, "synth", b"synth", n, line.as_bytes());
    let ip = format!("203.113.{}.{}", (h >> 8) % 256, h % 250 + 1);
    let mut ecs = Ecs {
        source_ip: ip.parse().ok(),
        destination_ip: format!(
            "10.{}.{}.{}",
            (h >> 16) % 4,
            (h >> 24) % 256,
            (h >> 32) % 250 + 1
        )
        .parse()
        .ok(),
        host_name: Some(format!("web{:02}", h % 20)),
        user_name: Some(format!("user{}", (h >> 40) % 50)),
        url_full: Some(format!("https://{group_key}/index.php?id={n}")),
        message: Some(format!("{} tại {group_key}", rule.title)),
        ..Default::default()
    };
    ecs.fill_related();
    let event = Event {
        schema: EVENT_SCHEMA_VERSION,
        id: eid,
        agency: agency.to_string(),
        sensor: "synth".into(),
        dataset: Dataset::new(Dataset::WEB_ACCESS),
        timestamp: t,
        received: t,
        source: SourceRef {
            kind: SourceKind::Simulator,
            name: "synth".into(),
            offset: Some(n),
            line: None,
        },
        ecs,
        original: serde_json::json!({"line": line}),
    };
    let mut entities = Entities::from_event(&event);
    entities.domains.push(group_key.to_ascii_lowercase());
    let system_n = mix(agency.len() as u64 ^ group_key.len() as u64) % 3;
    Detection {
        schema: DETECTION_SCHEMA_VERSION,
        id: detection_id(&eid, rule_id),
        incident_id: incident_id(agency, rule_id, group_key, 0),
        agency: agency.to_string(),
        system: Some(SystemRef {
            id: format!("{agency}-sys{system_n}"),
            name_vi: format!("Cổng thông tin điện tử {agency} {system_n}"),
            name_en: format!("{agency} portal {system_n}"),
            level: (system_n as u8) + 1,
        }),
        rule,
        category,
        priority: match h % 4 {
            0 => Priority::P1,
            1 => Priority::P2,
            2 => Priority::P3,
            _ => Priority::P4,
        },
        timestamp: t,
        month: month_of(t),
        group_key: group_key.to_string(),
        grouping: Default::default(),
        entities,
        ioc: None,
        correlation: None,
        guidance: Bilingual {
            vi: "Cô lập máy chủ, khôi phục giao diện và báo cáo trong 5 ngày".into(),
            en: "Isolate the server, restore the site and report within 5 days".into(),
        },
        suppressed: None,
        event,
    }
}

/// The unix time of the first instant of month `yyyymm` plus `k` months, in Asia/Ho_Chi_Minh.
pub fn month_start(yyyymm: u32, k: u32) -> i64 {
    let m0 = (yyyymm / 100) * 12 + (yyyymm % 100 - 1) + k;
    let (y, m) = ((m0 / 12) as i32, m0 % 12 + 1);
    vietnam()
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp())
}

/// The detections of incident number `i` of a generated corpus: `detections` of them, ten
/// minutes apart; the first falls in month `start_month` + `i % months` (Asia/Ho_Chi_Minh),
/// within its first 25 days.
pub fn incident_detections(
    i: u64,
    detections: u64,
    start_month: u32,
    months: u32,
) -> Vec<Detection> {
    let h = mix(i);
    let agency = AGENCIES[(h % AGENCIES.len() as u64) as usize];
    let rule = RULES[((h >> 8) % RULES.len() as u64) as usize].0;
    let month_index = (i % u64::from(months.max(1))) as u32;
    let first = month_start(start_month, month_index) + ((h >> 16) % (25 * 86_400)) as i64;
    let key = format!("site{i}.{agency}.gov.vn");
    (0..detections)
        .map(|j| detection(agency, rule, &key, first + (j as i64) * 600, i * 1000 + j))
        .collect()
}

/// A fixed corpus for month `yyyymm`: `incidents` incidents whose first detection falls in
/// that month (Asia/Ho_Chi_Minh), spread over three agencies and every rule, with 1–3
/// detections each; `salt` separates corpora of the same month.
pub fn month_corpus(yyyymm: u32, incidents: u64, salt: u64) -> Vec<Detection> {
    let start = month_start(yyyymm, 0);
    let agencies = ["byt", "bca", "ubnd-ha-noi"];
    let mut out = Vec::new();
    for k in 0..incidents {
        let agency = agencies[(k % 3) as usize];
        let rule = RULES[((k / 3) % RULES.len() as u64) as usize].0;
        let key = format!("site{salt}-{k}.{agency}.gov.vn");
        // First detection within the month's first 20 days; later ones may spill into the next
        // month, which must not move the incident.
        let first = start + ((mix(salt ^ k) % (20 * 86_400)) as i64);
        for j in 0..(1 + k % 3) {
            let t = first + (j as i64) * 12 * 86_400;
            out.push(detection(
                agency,
                rule,
                &key,
                t,
                salt * 1_000_000 + k * 10 + j,
            ));
        }
    }
    out
}

/// Writes at `dir` an index the way schema version 2 stored incidents (a `kind` term and the
/// record in `source`; the version in the commit payload): what `canhgac index upgrade` reads.
/// `incidents` are version-2 incident records (`id`, `agency`, `first_detection`, `status`,
/// `history` of `{status, note, by?, at}`).
pub fn write_v2_index(dir: &std::path::Path, incidents: &[serde_json::Value]) {
    use tantivy::schema::{Schema, STORED, STRING};
    let mut b = Schema::builder();
    let kind = b.add_text_field("kind", STRING);
    let source = b.add_bytes_field("source", STORED);
    let index = tantivy::Index::create_in_dir(dir, b.build()).expect("a fresh directory");
    let mut w: tantivy::IndexWriter = index.writer(15 << 20).expect("a writer");
    for json in incidents {
        let mut doc = tantivy::TantivyDocument::default();
        doc.add_text(kind, "incident");
        doc.add_bytes(
            source,
            serde_json::to_vec(json).unwrap_or_default().as_slice(),
        );
        w.add_document(doc).expect("a document");
    }
    let mut p = w.prepare_commit().expect("a commit");
    p.set_payload(r#"{"schema":2,"offsets":{}}"#);
    p.commit().expect("committed");
}
