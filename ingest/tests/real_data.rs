//! Every file of the shared test data decodes, with exact record counts, and auto-detection
//! names the right format for each.

use std::collections::BTreeMap;

use crate::support::{data, data_dir, read, read_clean};
use canhgac_ingest::Format;

#[test]
fn windows_evtx_attack_samples_jsonl() {
    let r = read_clean("windows/evtx-attack-samples.jsonl.gz", Format::Windows);
    assert_eq!(r.events.len(), 8255);
    let mut with_time = 0;
    let mut codes = 0;
    let mut hosts = 0;
    for (_, _, d) in &r.events {
        assert_eq!(d.dataset.as_str(), "windows");
        assert!(d.original["Event"]["System"].is_object());
        with_time += usize::from(d.timestamp.is_some());
        codes += usize::from(d.ecs.event_code.is_some());
        hosts += usize::from(d.ecs.host_name.is_some());
    }
    assert_eq!((with_time, codes, hosts), (8255, 8255, 8255));
    // Lines are numbered from 1 and offsets increase.
    assert_eq!(r.events[0].1, 1);
    assert_eq!(r.events[8254].1, 8255);
    assert!(r.events.windows(2).all(|w| w[0].0 < w[1].0));
    // Sysmon process creation gives process fields; some event has a hash.
    let sysmon1 = r.events.iter().filter(|(_, _, d)| {
        d.ecs.event_provider.as_deref() == Some("Microsoft-Windows-Sysmon")
            && d.ecs.event_code.as_deref() == Some("1")
    });
    let mut n = 0;
    for (_, _, d) in sysmon1 {
        n += 1;
        assert!(d.ecs.process_executable.is_some(), "{}", d.original);
        assert!(d.ecs.process_command_line.is_some());
    }
    assert!(n > 100, "{n} Sysmon 1 events");
    assert!(r
        .events
        .iter()
        .any(|(_, _, d)| d.ecs.file_hash_sha256.is_some() || d.ecs.file_hash_sha1.is_some()));
    assert!(r.events.iter().any(|(_, _, d)| d.ecs.source_ip.is_some()));
    assert!(r
        .events
        .iter()
        .any(|(_, _, d)| d.ecs.event_outcome.as_deref() == Some("failure")));
}

#[test]
fn sigma_regression_pretty_printed_events() {
    let cases = std::fs::read_to_string(data("sigma/regression/cases.tsv")).unwrap();
    let mut files = 0;
    let mut events = 0;
    let mut raw = 0;
    for row in cases.lines().skip(1) {
        let rel = row.split('\t').nth(2).expect("event_json column");
        let rel = format!("sigma/regression/{rel}");
        if rel.ends_with(".raw") {
            // The one Cisco case: a bare line, read as syslog.
            let r = read_clean(&rel, Format::Syslog);
            raw += r.events.len();
            continue;
        }
        let r = read_clean(&rel, Format::Windows);
        assert!(!r.events.is_empty(), "{rel}");
        // The offset of each record is the offset of its `{`.
        let bytes = std::fs::read(data(&rel)).unwrap();
        for (offset, line, d) in &r.events {
            assert_eq!(bytes[*offset as usize], b'{', "{rel}:{line}");
            assert!(d.ecs.event_code.is_some(), "{rel}:{line}");
        }
        files += 1;
        events += r.events.len();
    }
    assert_eq!((files, events, raw), (144, 169, 1));
}

#[test]
fn suricata_alerts() {
    let r = read_clean("network/suricata/alerts.ndjson", Format::Suricata);
    assert_eq!(r.events.len(), 548);
    for (_, line, d) in &r.events {
        assert_eq!(d.dataset.as_str(), "suricata");
        assert!(
            d.ecs.rule_name.is_some() && d.ecs.rule_id.is_some(),
            "line {line}"
        );
        assert!(
            d.ecs.rule_category.is_some() && d.ecs.event_severity.is_some(),
            "line {line}"
        );
        assert!(
            d.ecs.source_ip.is_some() && d.ecs.destination_ip.is_some(),
            "line {line}"
        );
        assert!(d.timestamp.is_some(), "line {line}");
    }
    let http = r
        .events
        .iter()
        .filter(|(_, _, d)| d.ecs.url_path.is_some())
        .count();
    let http_url = r
        .events
        .iter()
        .filter(|(_, _, d)| d.original["http"]["url"].is_string())
        .count();
    let tls = r
        .events
        .iter()
        .filter(|(_, _, d)| d.ecs.tls_sni.is_some())
        .count();
    assert_eq!(http, http_url, "alerts with an http url");
    assert!(http > 200);
    assert!(tls > 0);
}

#[test]
fn zeek_logs_with_dotted_keys() {
    let expected: BTreeMap<&str, usize> = [
        ("analyzer", 16461),
        ("capture_loss", 3),
        ("dce_rpc", 78),
        ("dns", 53615),
        ("dpd", 77),
        ("ftp", 93),
        ("kerberos", 11),
        ("known_certs", 35),
        ("known_hosts", 253),
        ("known_services", 1579),
        ("ldap_search", 1),
        ("loaded_scripts", 512),
        ("modbus", 268),
        ("notice", 207),
        ("ntlm", 422),
        ("ntp", 904),
        ("ocsp", 1308),
        ("packet_filter", 1),
        ("pe", 21),
        ("rdp", 4122),
        ("rfb", 3),
        ("smb_files", 13),
        ("smb_mapping", 393),
        ("smtp", 1188),
        ("snmp", 65),
        ("software", 376),
        ("ssh", 22),
        ("ssl", 49474),
        ("stats", 6),
        ("syslog", 2378),
        ("weird", 24202),
        ("x509", 348),
    ]
    .into_iter()
    .collect();
    let dir = data_dir().join("network/zeek/zed-sample-data");
    let mut seen = 0;
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(log) = name.strip_suffix(".json.gz") else {
            continue;
        };
        let r = read_clean(
            &format!("network/zeek/zed-sample-data/{name}"),
            Format::Zeek,
        );
        assert_eq!(Some(&r.events.len()), expected.get(log), "{name}");
        for (_, line, d) in &r.events {
            assert_eq!(d.dataset.as_str(), format!("zeek.{log}"), "{name}:{line}");
        }
        seen += 1;
        total += r.events.len();
    }
    assert_eq!((seen, total), (32, 158_439));
    let dns = read(&dir.join("dns.json.gz"), Format::Zeek);
    assert!(dns
        .events
        .iter()
        .all(|(_, _, d)| d.ecs.dns_question_name.is_some()
            || d.original["query"].as_str().is_none_or(|q| q.is_empty())));
    assert!(dns
        .events
        .iter()
        .all(|(_, _, d)| d.ecs.source_ip.is_some() && d.timestamp.is_some()));
}

#[test]
fn zeek_underscore_keys_match_dotted_keys() {
    let r = read_clean(
        "network/zeek/otrf-apt29-day1/combined_zeek.log.gz",
        Format::Zeek,
    );
    assert_eq!(r.events.len(), 2140);
    let mut per_log: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, d) in &r.events {
        *per_log.entry(d.dataset.to_string()).or_default() += 1;
    }
    assert_eq!(per_log["zeek.conn"], 613);
    assert_eq!(per_log["zeek.files"], 448);
    assert_eq!(per_log["zeek.http"], 62);
    assert_eq!(per_log.len(), 14);
    // Rewriting each record with dotted keys and an ISO `ts` gives the same ECS fields.
    let mut dec = canhgac_ingest::decoder(Format::Zeek, &Default::default()).unwrap();
    for (_, line, d) in &r.events {
        let mut obj = d.original.as_object().unwrap().clone();
        for k in ["orig_h", "orig_p", "resp_h", "resp_p"] {
            if let Some(v) = obj.remove(&format!("id_{k}")) {
                obj.insert(format!("id.{k}"), v);
            }
        }
        let stream = obj.remove("@stream").unwrap();
        obj.insert("_path".into(), stream);
        if let Some(ts) = d.timestamp {
            obj.insert(
                "ts".into(),
                ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    .into(),
            );
        }
        let text = serde_json::to_vec(&obj).unwrap();
        let again = dec.decode(&text).unwrap().unwrap();
        assert_eq!(again.ecs, d.ecs, "line {line}");
        assert_eq!(again.dataset, d.dataset, "line {line}");
        assert_eq!(again.timestamp, d.timestamp, "line {line}");
    }
    assert!(r
        .events
        .iter()
        .any(|(_, _, d)| d.ecs.source_ip.is_some() && d.ecs.destination_port.is_some()));
}

#[test]
fn web_access_logs() {
    for (rel, expected, format) in [
        ("web/acunetix.txt.gz", 6539, Format::Web),
        ("web/w3af.txt", 3996, Format::Web),
        (
            "web/web_attack_and_isp_webshell_localhost_access_log.txt",
            2661,
            Format::Web,
        ),
        ("web/Tunna_rdp_tunnel_IIS.log", 4298, Format::Web),
    ] {
        let r = read_clean(rel, format);
        assert_eq!(r.events.len(), expected, "{rel}");
        for (_, line, d) in &r.events {
            assert_eq!(d.dataset.as_str(), "web.access");
            assert!(d.timestamp.is_some(), "{rel}:{line}");
            assert!(
                d.original["sc-status"].is_u64(),
                "{rel}:{line}: {}",
                d.original
            );
            assert!(d.ecs.source_ip.is_some(), "{rel}:{line}");
            assert!(d.original["raw"].is_string());
        }
        let with_method = r
            .events
            .iter()
            .filter(|(_, _, d)| d.original.get("cs-method").is_some())
            .count();
        assert!(
            with_method * 100 >= expected * 99,
            "{rel}: {with_method} of {expected} requests parsed"
        );
    }
    let iis = read_clean("web/Tunna_rdp_tunnel_IIS.log", Format::Web);
    let tunna = iis.events.iter().filter(|(_, _, d)| {
        d.original["cs-uri-query"]
            .as_str()
            .is_some_and(|q| q.contains("proxy&port="))
    });
    assert!(tunna.count() > 0);
}

#[test]
fn syslog_files() {
    let ssh = read_clean("syslog/OpenSSH_2k.log", Format::Syslog);
    let linux = read_clean("syslog/Linux_2k.log", Format::Syslog);
    let apache = read_clean("syslog/Apache_2k.log", Format::Syslog);
    for (r, name) in [(&ssh, "OpenSSH"), (&linux, "Linux"), (&apache, "Apache")] {
        assert_eq!(r.events.len(), 2000, "{name}");
        assert!(
            r.events.iter().all(|(_, _, d)| d.timestamp.is_some()),
            "{name}: every line has a time"
        );
    }
    assert!(ssh
        .events
        .iter()
        .all(|(_, _, d)| d.original["appname"] == "sshd"
            && d.ecs.host_name.as_deref() == Some("LabSZ")));
    assert!(linux
        .events
        .iter()
        .all(|(_, _, d)| d.original.get("appname").is_some() && d.ecs.host_name.is_some()));
    assert!(
        apache
            .events
            .iter()
            .all(|(_, _, d)| d.dataset.as_str() == "apache.error"
                && d.original.get("level").is_some())
    );
    // Brute force material: counts from the loghub structured CSV templates.
    let count = |r: &crate::support::Read, action: &str| {
        r.events
            .iter()
            .filter(|(_, _, d)| d.ecs.event_action.as_deref() == Some(action))
            .count()
    };
    let failed = count(&ssh, "ssh_failed_password");
    let invalid = count(&ssh, "ssh_invalid_user");
    let pam = count(&ssh, "pam_authentication_failure");
    let csv = std::fs::read_to_string(data("syslog/OpenSSH_2k.log_structured.csv")).unwrap();
    // Including the two "message repeated 5 times: [ Failed password …]" lines.
    let csv_failed = csv
        .lines()
        .filter(|l| l.contains("Failed password for "))
        .count();
    let csv_invalid = csv.lines().filter(|l| l.contains(",Invalid user ")).count();
    assert_eq!(failed, csv_failed);
    assert_eq!(invalid, csv_invalid);
    assert!(pam > 0);
    assert!(ssh
        .events
        .iter()
        .filter(|(_, _, d)| d.ecs.event_action.as_deref() == Some("ssh_failed_password"))
        .all(|(_, _, d)| d.ecs.source_ip.is_some()
            && d.ecs.user_name.is_some()
            && d.ecs.event_outcome.as_deref() == Some("failure")));
    let linux_pam = count(&linux, "pam_authentication_failure");
    assert!(linux_pam > 300, "{linux_pam}");
}

#[test]
fn phishing_mail() {
    let mut n = 0;
    let mut with_urls = 0;
    let mut attachments = 0;
    for i in 1..=100 {
        let rel = format!("email/sample-{i}.eml");
        let r = read_clean(&rel, Format::Eml);
        assert_eq!(r.events.len(), 1, "{rel}");
        let d = &r.events[0].2;
        assert_eq!(d.dataset.as_str(), "email");
        assert!(d.original["received"].is_array(), "{rel}");
        assert!(
            d.ecs.email_from.is_some() || d.original["headers"].get("From").is_some(),
            "{rel}"
        );
        with_urls += usize::from(!d.ecs.related.url.is_empty());
        attachments += d.ecs.email_attachments.len();
        for a in &d.ecs.email_attachments {
            assert_eq!((a.md5.len(), a.sha1.len(), a.sha256.len()), (32, 40, 64));
        }
        n += 1;
    }
    assert_eq!(n, 100);
    assert!(with_urls >= 80, "{with_urls} mails with URLs");
    assert!(attachments >= 6, "{attachments} attachments");
}
