//! The project's own rules (`rules/sigma/`): every rule loads, carries bilingual guidance, gets
//! the national class its folder names, and has a positive and a negative event.

use std::path::{Path, PathBuf};

use canhgac_core::event::Event;
use canhgac_core::Category;
use canhgac_detect::taxonomy::{RuleFacts, Taxonomy};
use canhgac_sigma::{EngineBuilder, Mappings};
use serde_json::{json, Value};

use canhgac_sigma::testsuite as common;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/sigma")
}

fn sysmon(event_id: u32, data: Value) -> Event {
    common::event(
        "windows",
        json!({"Event": {"System": {"EventID": event_id, "Channel": "Microsoft-Windows-Sysmon/Operational",
                                     "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}, "Computer": "PC01"},
                          "EventData": data}}),
    )
}

fn web(method: &str, stem: &str, query: &str, status: u16) -> Event {
    common::event(
        "web.access",
        json!({"c-ip": "203.0.113.9", "cs-method": method, "cs-uri-stem": stem, "cs-uri-query": query, "sc-status": status}),
    )
}

fn mail(subject: &str, from: &str, hosts: &[&str], attachments: &[&str]) -> Event {
    common::event(
        "email",
        json!({"subject": subject, "from": [from], "url_hosts": hosts, "attachment_names": attachments}),
    )
}

fn dns(query: &str) -> Event {
    common::event(
        "zeek.dns",
        json!({"_path": "dns", "query": query, "id.orig_h": "10.20.1.5"}),
    )
}

fn suricata(signature: &str, category: &str) -> Event {
    common::event(
        "suricata",
        json!({"event_type": "alert", "src_ip": "10.20.1.5", "dest_ip": "198.51.100.7",
                             "alert": {"signature": signature, "category": category, "severity": 1}}),
    )
}

/// (rule file, positive event, negative event)
fn cases() -> Vec<(&'static str, Event, Event)> {
    vec![
        (
            "deface/web_webshell_request.yml",
            web("POST", "/error/cmd.jsp", "-", 200),
            web("POST", "/error/cmd.jsp", "-", 404),
        ),
        (
            "deface/web_page_upload_put.yml",
            web("PUT", "/portal/index.html", "-", 201),
            web("PUT", "/api/upload", "-", 201),
        ),
        (
            "deface/web_defacer_signature.yml",
            web("GET", "/index.php", "msg=hacked+by+team", 200),
            web("GET", "/index.php", "msg=tin+tuc", 200),
        ),
        (
            "deface/web_tunna_tunnel.yml",
            web("GET", "/erp/conn.aspx", "proxy&port=3389&ip=127.0.0.1", 200),
            web("GET", "/erp/conn.aspx", "page=2", 200),
        ),
        (
            "deface/win_webserver_writes_script_to_webroot.yml",
            sysmon(
                11,
                json!({"Image": "C:\\Windows\\System32\\inetsrv\\w3wp.exe", "TargetFilename": "C:\\inetpub\\wwwroot\\portal\\up.aspx"}),
            ),
            sysmon(
                11,
                json!({"Image": "C:\\Windows\\System32\\inetsrv\\w3wp.exe", "TargetFilename": "C:\\inetpub\\logs\\u_ex220401.log"}),
            ),
        ),
        (
            "phishing/mail_credential_lure_subject.yml",
            mail(
                "Microsoft account unusual signin activity",
                "security@msft-alerts.example",
                &[],
                &[],
            ),
            mail("Lịch họp giao ban tuần", "vanphong@moh.gov.vn", &[], &[]),
        ),
        (
            "phishing/mail_mixed_script_homoglyph.yml",
            mail(
                "[Binаnсе] lmmediate verification required",
                "support@binance-kyc.example",
                &[],
                &[],
            ),
            mail("Привет, как дела", "friend@example.ru", &[], &[]),
        ),
        (
            "phishing/mail_link_to_free_hosting.yml",
            mail(
                "Shared document",
                "a@example.com",
                &["login-docs-3f9.web.app"],
                &[],
            ),
            mail("Shared document", "a@example.com", &["www.moh.gov.vn"], &[]),
        ),
        (
            "phishing/mail_dangerous_attachment.yml",
            mail(
                "Invoice",
                "billing@example.com",
                &[],
                &["invoice_2022.pdf.html"],
            ),
            mail("Invoice", "billing@example.com", &[], &["invoice_2022.pdf"]),
        ),
        (
            "phishing/lookalike_gov_vn_domain.yml",
            dns("moh.gov.vn.account-verify.example"),
            dns("dichvucong.moh.gov.vn"),
        ),
        (
            "phishing/mail_lookalike_gov_vn_link.yml",
            mail(
                "Cập nhật hồ sơ",
                "a@example.com",
                &["dichvucong-gov-vn.example"],
                &[],
            ),
            mail(
                "Cập nhật hồ sơ",
                "a@example.com",
                &["dichvucong.gov.vn"],
                &[],
            ),
        ),
        (
            "malware/suricata_trojan_or_cnc_alert.yml",
            suricata(
                "ET TROJAN Possible NanoCore C2 60B",
                "A Network Trojan was detected",
            ),
            suricata("ET SCAN Potential SSH Scan", "Attempted Information Leak"),
        ),
        (
            "malware/win_fake_update_executed_from_downloads.yml",
            sysmon(
                1,
                json!({"Image": "C:\\Users\\IEUser\\Downloads\\Flash_update.exe", "ParentImage": "C:\\Windows\\explorer.exe"}),
            ),
            sysmon(
                1,
                json!({"Image": "C:\\Users\\IEUser\\Downloads\\report.exe", "ParentImage": "C:\\Windows\\explorer.exe"}),
            ),
        ),
        (
            "malware/win_office_spawns_script_host.yml",
            sysmon(
                1,
                json!({"Image": "C:\\Windows\\System32\\wscript.exe", "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"}),
            ),
            sysmon(
                1,
                json!({"Image": "C:\\Windows\\System32\\wscript.exe", "ParentImage": "C:\\Windows\\explorer.exe"}),
            ),
        ),
    ]
}

#[test]
fn every_own_rule_has_a_positive_and_a_negative_event() {
    let dir = rules_dir();
    let taxonomy = Taxonomy::builtin();
    let cases = cases();
    let mut files: Vec<String> = Vec::new();
    for class in ["deface", "phishing", "malware"] {
        for e in std::fs::read_dir(dir.join(class)).unwrap() {
            files.push(format!(
                "{class}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    files.sort();
    let mut tested: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    tested.sort();
    assert_eq!(
        files, tested,
        "every rule file has a test case, and every case a rule file"
    );

    for (file, positive, negative) in cases {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut b = EngineBuilder::new(Mappings::builtin());
        b.add_source(path.clone(), text.clone());
        let (engine, report) = b.build();
        assert!(
            report.rejections.is_empty(),
            "{file}: {:?}",
            report.rejections
        );
        assert_eq!(engine.len(), 1, "{file}");
        assert!(
            report.unrouted.is_empty(),
            "{file}: no mapping routes {:?}",
            report.unrouted
        );
        let mut s = engine.scratch();
        assert_eq!(
            engine.matches(&positive, &mut s).len(),
            1,
            "{file}: positive event must match"
        );
        assert!(
            engine.matches(&negative, &mut s).is_empty(),
            "{file}: negative event must not match"
        );

        let meta = engine.rule(engine.rules().next().unwrap().0);
        let want = match file.split('/').next().unwrap() {
            "deface" => Category::Deface,
            "phishing" => Category::Phishing,
            _ => Category::Malware,
        };
        let facts = RuleFacts {
            id: &meta.id,
            tags: &meta.tags,
            logsource: Some(&meta.logsource),
            ioc_kind: None,
        };
        assert_eq!(
            taxonomy.category(facts).0,
            want,
            "{file}: taxonomy category"
        );
        assert!(meta.author.is_some(), "{file}: author");
        let doc = &yaml_rust2::YamlLoader::load_from_str(&text).unwrap()[0];
        for lang in ["vi", "en"] {
            let g = doc["guidance"][lang].as_str().unwrap_or_default();
            assert!(g.len() > 40, "{file}: guidance.{lang} missing or too short");
        }
    }
}

#[test]
fn own_rules_fire_on_the_shared_attack_data() {
    // The whole rules/sigma tree loads without rejections.
    let mut b = EngineBuilder::new(Mappings::builtin());
    b.add_path(&rules_dir()).unwrap();
    let (engine, report) = b.build();
    assert!(report.rejections.is_empty(), "{:?}", report.rejections);
    assert_eq!(engine.len(), cases().len());
}
