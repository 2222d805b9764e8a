//! `canhgac notify` against a real broker (Tansu), a real webhook receiver (axum, verifying the
//! HMAC signature) and a real SMTP server, both on 127.0.0.1: detections for three agencies
//! with escalations go to `canhgac.detections`; the notifier is SIGKILLed several times while
//! it delivers (the webhook receiver fails and is slow at first, so retries and in-flight
//! requests are under way) and restarted. Every incident's alert at every revision arrives on
//! every channel at least once and at most twice, a repeat carries the same idempotency key
//! and body, escalations carry higher revisions, and a receiver that rejects alerts
//! permanently gets them dead-lettered to `canhgac.alerts.dlq` with the reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::webhook::{self, secret, secret_env, Arrival, Receiver};
use crate::support::{canhgac, free_port, read_topic, Broker};
use canhgac_core::{Detection, Priority};
use canhgac_kafka::{ClientSettings, KafkaPublisher};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const AGENCIES: [&str; 3] = ["byt", "btc", "ubnd-ha-noi"];
const INCIDENTS_PER_AGENCY: usize = 4;
/// Detections per incident: 0–4 at P4, 5–11 at P2 (an escalation at the 6th), and the 10th
/// crosses the threshold: revisions 1, 2, 3.
const DETECTIONS: usize = 12;
/// The webhook answers 503 to this many requests first.
const FAIL_FIRST: u64 = 25;

fn registry(dir: &Path, hook: u16) -> std::path::PathBuf {
    let text = format!(
        r#"
[[agency]]
id = "byt"
name_vi = "Bộ Y tế"
name_en = "Ministry of Health"
  [[agency.channel]]
  type = "kafka"
  [[agency.channel]]
  type = "webhook"
  url = "http://127.0.0.1:{hook}/hook/byt"
  secret_env = "CANHGAC_TEST_SECRET_BYT"
  [[agency.channel]]
  type = "email"
  to = ["soc@moh.example.vn"]
  lang = "vi"

[[agency]]
id = "btc"
name_vi = "Bộ Tài chính"
name_en = "Ministry of Finance"
  [[agency.channel]]
  type = "webhook"
  url = "http://127.0.0.1:{hook}/hook/btc"
  secret_env = "CANHGAC_TEST_SECRET_BTC"
  [[agency.channel]]
  type = "email"
  to = ["soc@mof.example.vn", "ciso@mof.example.vn"]
  lang = "en"

[[agency]]
id = "ubnd-ha-noi"
name_vi = "Ủy ban nhân dân thành phố Hà Nội"
name_en = "Hanoi People's Committee"
  [[agency.channel]]
  type = "kafka"
  [[agency.channel]]
  type = "webhook"
  url = "http://127.0.0.1:{hook}/gone/ubnd-ha-noi"
  secret_env = "CANHGAC_TEST_SECRET_UBND_HA_NOI"
"#
    );
    let p = dir.join("agencies.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Enough SMTP for lettre: greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
async fn smtp_session(stream: tokio::net::TcpStream, r: Arc<Receiver>) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(b"220 test.local ESMTP\r\n").await?;
    let mut line = String::new();
    let mut rcpts = 0;
    loop {
        line.clear();
        if rd.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        if cmd.starts_with("EHLO") {
            wr.write_all(b"250-test.local\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if cmd.starts_with("HELO") || cmd.starts_with("NOOP") || cmd.starts_with("RSET") {
            rcpts = 0;
            wr.write_all(b"250 ok\r\n").await?;
        } else if cmd.starts_with("MAIL FROM") {
            wr.write_all(b"250 ok\r\n").await?;
        } else if cmd.starts_with("RCPT TO") {
            rcpts += 1;
            wr.write_all(b"250 ok\r\n").await?;
        } else if cmd == "DATA" {
            wr.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if rd.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(&line);
            }
            let header = |name: &str| {
                data.lines()
                    .find_map(|l| {
                        l.split_once(':')
                            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v.trim().to_string())
                    })
                    .unwrap_or_default()
            };
            let to = header("To");
            let agency = if to.contains("moh") { "byt" } else { "btc" };
            if rcpts == 0 {
                wr.write_all(b"554 no recipients\r\n").await?;
                continue;
            }
            r.arrivals.lock().unwrap().push(Arrival {
                channel: format!("email:{agency}"),
                key: header("X-Canhgac-Idempotency-Key"),
                body: header("Message-ID"),
            });
            wr.write_all(b"250 queued\r\n").await?;
        } else if cmd == "QUIT" {
            wr.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            wr.write_all(b"502 not implemented\r\n").await?;
        }
    }
}

fn detections() -> Vec<Vec<Detection>> {
    // Per wave: detections [0, 5), [5, 9), [9, 12) of every incident.
    let mut waves = vec![Vec::new(), Vec::new(), Vec::new()];
    let base = 1_650_000_000i64;
    for agency in AGENCIES {
        for i in 0..INCIDENTS_PER_AGENCY {
            let group = format!("site{i}.{agency}.example.vn");
            for k in 0..DETECTIONS {
                let mut d = canhgac_index::synth::detection(
                    agency,
                    "cg-deface-001",
                    &group,
                    base + k as i64 * 60,
                    (i * 100 + k) as u64,
                );
                d.priority = if k < 5 { Priority::P4 } else { Priority::P2 };
                let wave = if k < 5 {
                    0
                } else if k < 9 {
                    1
                } else {
                    2
                };
                waves[wave].push(d);
            }
        }
    }
    waves
}

struct Notifier {
    child: Option<Child>,
    args: Vec<String>,
    log: std::path::PathBuf,
    starts: u32,
}

impl Notifier {
    fn start(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = canhgac()
            .args(&self.args)
            .envs(AGENCIES.map(|a| (secret_env(a), secret(a))))
            .env("RUST_LOG", "info,canhgac_notify=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.kill();
    }
}

fn publish(rt: &tokio::runtime::Runtime, publisher: &KafkaPublisher, ds: &[Detection]) {
    rt.block_on(crate::support::publish_detections(publisher, ds));
}

#[test]
fn alerts_survive_sigkill_at_least_once_at_most_twice() {
    let _heavy = crate::support::heavy();
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let receiver = Receiver::new(FAIL_FIRST, Duration::from_millis(150));
    let stop = tokio_util::sync::CancellationToken::new();
    let hook_port = webhook::start(&rt, receiver.clone(), stop.clone());
    // SMTP server.
    let smtp_listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let smtp_port = smtp_listener.local_addr().unwrap().port();
    {
        let r = receiver.clone();
        let stop = stop.clone();
        rt.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    Ok((s, _)) = smtp_listener.accept() => {
                        tokio::spawn(smtp_session(s, r.clone()));
                    }
                }
            }
        });
    }

    let broker = Broker::start();
    broker.create_topic("canhgac.detections", 3);
    for t in [
        "canhgac.alerts.byt",
        "canhgac.alerts.btc",
        "canhgac.alerts.ubnd-ha-noi",
        "canhgac.alerts.dlq",
    ] {
        broker.create_topic(t, 1);
    }
    let work = tempfile::tempdir().unwrap();
    let reg = registry(work.path(), hook_port);
    let metrics_port = free_port();
    let args: Vec<String> = [
        "notify",
        "--brokers",
        &broker.brokers(),
        "--registry",
        reg.to_str().unwrap(),
        "--state",
        work.path().join("state").to_str().unwrap(),
        "--smtp-url",
        &format!("smtp://127.0.0.1:{smtp_port}"),
        "--smtp-from",
        "canhgac <canhgac@test.local>",
        "--threshold",
        "10",
        "--max-attempts",
        "30",
        "--retry-base-ms",
        "100",
        "--retry-max-ms",
        "800",
        "--throttle-per-minute",
        "1200",
        "--throttle-burst",
        "8",
        "--concurrency",
        "4",
        "--metrics-listen",
        &format!("127.0.0.1:{metrics_port}"),
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=500",
    ]
    .map(String::from)
    .to_vec();
    let mut n = Notifier {
        child: None,
        args,
        log: work.path().join("notify.log"),
        starts: 0,
    };
    let publisher = rt
        .block_on(async { KafkaPublisher::new(&ClientSettings::new(broker.brokers())) })
        .unwrap();
    let waves = detections();

    // Kill at various points while deliveries are pending, in flight or being retried.
    let mut killed_in_flight = 0;
    n.start();
    publish(&rt, &publisher, &waves[0]);
    for (wave, pauses) in [
        (None, [2500u64, 1200]),
        (Some(1), [1500, 800]),
        (Some(2), [1000, 1500]),
    ] {
        if let Some(w) = wave {
            publish(&rt, &publisher, &waves[w]);
        }
        for p in pauses {
            std::thread::sleep(Duration::from_millis(p));
            n.kill();
            n.start();
        }
        // And once exactly while the receiver holds a request: that alert must come again.
        if receiver.wait_in_flight(Duration::from_secs(5)) {
            n.kill();
            killed_in_flight += 1;
            n.start();
        }
    }

    // Everything expected: per channel, per incident, revisions 1..=3.
    let per_channel = INCIDENTS_PER_AGENCY * 3;
    let channels = ["webhook:byt", "webhook:btc", "email:byt", "email:btc"];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = {
            let a = receiver.arrivals.lock().unwrap();
            channels.map(|c| {
                let mut keys: Vec<&str> = a
                    .iter()
                    .filter(|x| x.channel == c)
                    .map(|x| x.key.as_str())
                    .collect();
                keys.sort();
                keys.dedup();
                keys.len()
            })
        };
        if counts.iter().all(|&c| c >= per_channel) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alerts missing: {counts:?} of {per_channel} per channel; log:\n{}",
            std::fs::read_to_string(&n.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Metrics of the last run, then a graceful stop.
    std::thread::sleep(Duration::from_millis(1500));
    let metrics = rt.block_on(async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", metrics_port))
            .await
            .unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out)
            .await
            .unwrap();
        out
    });
    assert!(
        metrics.contains("canhgac_notify_alerts_delivered_total{channel="),
        "{metrics}"
    );
    let child = n.child.take().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "notifier exit {:?}", out.status);

    // At least once, at most twice, repeats identical (same idempotency key, same body).
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
    let arrivals = receiver.arrivals.lock().unwrap().clone();
    let mut by_key: BTreeMap<(String, String), Vec<&Arrival>> = BTreeMap::new();
    for a in &arrivals {
        by_key
            .entry((a.channel.clone(), a.key.clone()))
            .or_default()
            .push(a);
    }
    let mut repeats = 0;
    for ((channel, key), list) in &by_key {
        assert!(
            list.len() <= 2,
            "{channel} {key} arrived {} times",
            list.len()
        );
        repeats += list.len() - 1;
        assert!(
            list.iter().all(|a| a.body == list[0].body),
            "{channel} {key}: a repeat differs"
        );
    }
    for c in channels {
        let keys: Vec<&String> = by_key
            .keys()
            .filter(|(ch, _)| ch == c)
            .map(|(_, k)| k)
            .collect();
        assert_eq!(keys.len(), per_channel, "{c}: {keys:?}");
    }
    // Escalations: revision 2 says the priority rose, revision 3 that the count reached 10.
    let mut revisions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for a in arrivals.iter().filter(|a| a.channel.starts_with("webhook")) {
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        let rev = v["revision"].as_u64().unwrap();
        let reasons = v["reasons"].to_string();
        match rev {
            1 => assert!(reasons.contains("\"new\""), "{reasons}"),
            2 => {
                assert!(reasons.contains("priority-raised"), "{reasons}");
                assert_eq!(v["priority"], "p2");
            }
            3 => {
                assert!(reasons.contains("count-crossed"), "{reasons}");
                assert!(v["count"].as_u64().unwrap() >= 10);
            }
            _ => panic!("unexpected revision {rev}"),
        }
        assert_eq!(
            a.key,
            format!("{}:{rev}", v["incident_id"].as_str().unwrap())
        );
        revisions
            .entry(v["incident_id"].as_str().unwrap().to_string())
            .or_default()
            .push(rev);
    }
    assert_eq!(revisions.len(), 2 * INCIDENTS_PER_AGENCY);
    for (id, mut revs) in revisions {
        revs.sort();
        revs.dedup();
        assert_eq!(revs, [1, 2, 3], "incident {id}");
    }
    // Kafka channels.
    for agency in ["byt", "ubnd-ha-noi"] {
        let records = read_topic(&broker.brokers(), &format!("canhgac.alerts.{agency}"));
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for r in &records {
            *counts
                .entry(r.headers["idempotency-key"].clone())
                .or_default() += 1;
            assert_eq!(r.json()["agency"], agency);
        }
        assert_eq!(counts.len(), per_channel, "{agency}: {counts:?}");
        assert!(counts.values().all(|&c| c <= 2), "{agency}: {counts:?}");
    }
    // The permanently failing webhook: dead-lettered with the reason, once or twice each.
    let dlq = read_topic(&broker.brokers(), "canhgac.alerts.dlq");
    let mut dead: BTreeMap<String, usize> = BTreeMap::new();
    for r in &dlq {
        assert_eq!(r.headers["agency"], "ubnd-ha-noi");
        assert_eq!(r.headers["channel"], "webhook.1");
        assert!(r.headers["reason"].contains("410"), "{:?}", r.headers);
        *dead
            .entry(r.headers["idempotency-key"].clone())
            .or_default() += 1;
    }
    assert_eq!(dead.len(), per_channel, "{dead:?}");
    assert!(dead.values().all(|&c| c <= 2));
    assert!(
        receiver.requests.load(Ordering::SeqCst) > FAIL_FIRST,
        "the receiver's failures were retried"
    );
    assert!(
        killed_in_flight > 0,
        "no kill while a request was in flight"
    );
    assert!(
        repeats > 0,
        "{killed_in_flight} kills with a request in flight and no repeat"
    );
    stop.cancel();
    eprintln!(
        "notify_broker: {} starts (SIGKILL {}, {killed_in_flight} with a request in flight), {} webhook requests, {} repeats, {:.1}s",
        n.starts,
        n.starts - 1,
        receiver.requests.load(Ordering::SeqCst),
        repeats,
        started.elapsed().as_secs_f64()
    );
}
