//! `canhgac detect` against a real broker (Tansu): the Windows attack traces, the Suricata
//! alerts, the web logs with the webshell and the phishing mail, published by sensors for four
//! agencies; two workers in one group; detections of the three national classes with their
//! categories; one worker SIGKILLed mid-stream and restarted gives the same distinct detection
//! ids as an undisturbed run. The workers also load IOC lists: the Maltrail malicious trails
//! (182k indicators) and a phishing list of two senders seen in the mails, whose hits become
//! phishing detections.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{canhgac, data_dir, read_topic, repo, Broker};

fn publish(broker: &Broker, prefix: &str) {
    let d = data_dir();
    let mails: Vec<PathBuf> = (1..=100)
        .map(|i| d.join(format!("email/sample-{i}.eml")))
        .collect();
    let inputs: Vec<(&str, Vec<PathBuf>)> = vec![
        ("byt", vec![d.join("windows/evtx-attack-samples.jsonl.gz")]),
        ("btc", vec![d.join("network/suricata/alerts.ndjson")]),
        (
            "ubnd-ha-noi",
            vec![
                d.join("web/web_attack_and_isp_webshell_localhost_access_log.txt"),
                d.join("web/Tunna_rdp_tunnel_IIS.log"),
            ],
        ),
        ("bgddt", mails),
    ];
    for (agency, paths) in inputs {
        let out = canhgac()
            .args([
                "sensor",
                "--brokers",
                &broker.brokers(),
                "--agency",
                agency,
                "--sensor",
                "s1",
                "--once",
                "--topic-prefix",
                prefix,
            ])
            .args(&paths)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sensor {agency}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A phishing list of two senders of the sample mails, next to its definition.
fn phishing_list(dir: &std::path::Path) -> PathBuf {
    std::fs::write(
        dir.join("senders.txt"),
        "# senders of phishing_pot samples 1 and 3\nbanco.bradesco@atendimento.com.br\nnoraalex01@gmail.com\n",
    )
    .unwrap();
    let def = dir.join("phishing-senders.yaml");
    std::fs::write(
        &def,
        "id: test-phishing-senders\ntitle: Phishing senders (test)\nkind: phishing\nformat: plain\n\
         path: senders.txt\nlevel: high\n",
    )
    .unwrap();
    def
}

fn worker(broker: &Broker, prefix: &str, group: &str, log: &std::path::Path) -> Child {
    let d = data_dir();
    let phishing = log.parent().unwrap().join("phishing-senders.yaml");
    canhgac()
        .args([
            "detect",
            "--brokers",
            &broker.brokers(),
            "--group",
            group,
            "--topic-prefix",
            prefix,
            "--reload-interval",
            "0",
        ])
        .arg("--rules")
        .arg(d.join("sigma/rules/rules"))
        .arg("--rules")
        .arg(repo("rules/sigma"))
        .arg("--registry")
        .arg(repo("rules/agencies.example.toml"))
        .arg("--ioc")
        .arg(repo("rules/ioc/maltrail-malicious.yaml"))
        .arg("--ioc")
        .arg(phishing)
        .arg("--ioc-data")
        .arg(&d)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Distinct detection ids on `<prefix>.detections`, once they stop growing.
fn settled_detections(
    broker: &Broker,
    prefix: &str,
    at_least: usize,
) -> BTreeMap<String, serde_json::Value> {
    let topic = format!("{prefix}.detections");
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = (0usize, Instant::now());
    loop {
        let records = read_topic(&broker.brokers(), &topic);
        let mut by_id = BTreeMap::new();
        for r in &records {
            let v = r.json();
            by_id.insert(v["id"].as_str().unwrap().to_string(), v);
        }
        if by_id.len() != last.0 {
            last = (by_id.len(), Instant::now());
        } else if by_id.len() >= at_least && last.1.elapsed() > Duration::from_secs(15) {
            return by_id;
        }
        assert!(
            Instant::now() < deadline,
            "detections did not settle ({} so far)",
            by_id.len()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn kill(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn two_workers_classify_the_national_classes_and_a_sigkill_loses_nothing() {
    let _heavy = crate::support::heavy();
    let broker = Broker::start();
    let logs = tempfile::tempdir().unwrap();
    phishing_list(logs.path());
    for prefix in ["calm", "chaos"] {
        publish(&broker, prefix);
    }

    // Undisturbed run: one worker.
    let calm = worker(&broker, "calm", "g-calm", &logs.path().join("calm.log"));
    let reference = settled_detections(&broker, "calm", 1);
    kill(calm);
    eprintln!("undisturbed run: {} distinct detections", reference.len());

    // The national classes, with their categories, from the project's rules.
    let by_rule_category: BTreeSet<(String, String)> = reference
        .values()
        .map(|d| {
            (
                d["rule"]["title"].as_str().unwrap().to_string(),
                d["category"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |title: &str, category: &str| {
        by_rule_category.contains(&(title.to_string(), category.to_string()))
    };
    assert!(
        has("Web Shell File Requested On A Web Server", "deface"),
        "{by_rule_category:?}"
    );
    assert!(has("Tunna Web Shell Tunnel In Web Server Log", "deface"));
    assert!(has(
        "IDS Alert For Trojan Or Command-And-Control Traffic",
        "malware"
    ));
    assert!(has(
        "Fake Update Or Installer Executed From The Downloads Folder",
        "malware"
    ));
    assert!(has("Credential Phishing Lure In Mail Subject", "phishing"));
    assert!(has(
        "Mixed Latin And Cyrillic Letters In Mail Subject Or Sender",
        "phishing"
    ));
    // IOC hits: one detection per (list, indicator), phishing from the list's kind.
    let ioc: Vec<&serde_json::Value> = reference
        .values()
        .filter(|d| d["rule"]["kind"] == "ioc")
        .collect();
    let senders = ioc
        .iter()
        .filter(|d| d["rule"]["id"] == "test-phishing-senders")
        .count();
    assert!(senders >= 2, "the two listed senders' mails are IOC hits");
    for d in &ioc {
        let hit = &d["ioc"];
        eprintln!(
            "ioc {} {} {}={} -> {}",
            d["agency"], d["rule"]["id"], hit["field"], hit["value"], d["category"]
        );
        let want = match (d["rule"]["id"].as_str().unwrap(), hit["list_kind"].as_str()) {
            ("test-phishing-senders", _) => "phishing",
            ("maltrail-malicious", Some("phishing")) => "phishing",
            ("maltrail-malicious", Some("malware" | "c2")) => "malware",
            other => panic!("unexpected IOC detection {other:?}"),
        };
        assert_eq!(d["category"], want, "category from the list's kind");
    }
    let agencies: BTreeSet<&str> = reference
        .values()
        .map(|d| d["agency"].as_str().unwrap())
        .collect();
    assert_eq!(
        agencies,
        BTreeSet::from(["bgddt", "btc", "byt", "ubnd-ha-noi"])
    );
    for d in reference.values() {
        let cat = d["category"].as_str().unwrap();
        let agency = d["agency"].as_str().unwrap();
        if d["rule"]["id"].as_str().unwrap().starts_with("0c4a7f6e") {
            assert_eq!((cat, agency), ("deface", "ubnd-ha-noi"));
        }
        assert!(!d["guidance"]["vi"].as_str().unwrap().is_empty());
    }

    // Two workers in one group; one is SIGKILLed mid-stream and restarted.
    let a = worker(&broker, "chaos", "g-chaos", &logs.path().join("a.log"));
    let b = worker(&broker, "chaos", "g-chaos", &logs.path().join("b.log"));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let n = read_topic(&broker.brokers(), "chaos.detections").len();
        if n > reference.len() / 5 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress before the kill");
        std::thread::sleep(Duration::from_millis(200));
    }
    kill(a);
    eprintln!(
        "killed one worker with {} detection records in the topic",
        read_topic(&broker.brokers(), "chaos.detections").len()
    );
    std::thread::sleep(Duration::from_secs(2));
    let a2 = worker(&broker, "chaos", "g-chaos", &logs.path().join("a2.log"));
    let chaos = settled_detections(&broker, "chaos", reference.len());
    kill(a2);
    kill(b);
    let want: BTreeSet<&String> = reference.keys().collect();
    let got: BTreeSet<&String> = chaos.keys().collect();
    assert_eq!(
        got, want,
        "the same distinct detection ids as the undisturbed run"
    );
}
