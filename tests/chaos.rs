//! Chaos test: sensors → Tansu → two detect workers → indexer, with SIGKILL and restart of
//! every role and of the broker at random moments. At the end the index holds exactly the
//! incidents and detection ids of an undisturbed in-process run (`canhgac run --once`) over the
//! same inputs: nothing lost, nothing doubled.
//!
//! Short form (the README's test command): at least 5 kills. Long form:
//! `CANHGAC_CHAOS_KILLS=50 CANHGAC_CHAOS_SEED=7 cargo test --test chaos -- --nocapture`.
//! The seed is printed so that a failure can be replayed.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{canhgac, committed_detections, data_dir, index_contents, Broker};

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn inputs() -> Vec<(&'static str, &'static str, PathBuf)> {
    let d = data_dir();
    vec![
        (
            "bca",
            "win-01",
            d.join("windows/evtx-attack-samples.jsonl.gz"),
        ),
        ("byt", "ids-01", d.join("network/suricata/alerts.ndjson")),
        (
            "ubnd-ha-noi",
            "web-01",
            d.join("web/web_attack_and_isp_webshell_localhost_access_log.txt"),
        ),
    ]
}

fn rule_args(c: &mut Command) {
    c.arg("--rules")
        .arg(repo("rules/sigma"))
        .arg("--rules")
        .arg(data_dir().join("sigma/rules/rules"))
        .arg("--registry")
        .arg(repo("rules/agencies.example.toml"));
}

/// A role the chaos loop kills and restarts.
struct Role {
    name: String,
    cmd: Box<dyn Fn() -> Command>,
    child: Option<Child>,
    /// Runs to completion (`--once`): restarted only until it exits with 0.
    finite: bool,
    done: bool,
    log: PathBuf,
}

impl Role {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        self.child = Some(
            (self.cmd)()
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    /// Restarts a finite role that failed (e.g. while the broker was down); marks it done on 0.
    fn poll(&mut self) {
        if let Some(c) = &mut self.child {
            if let Some(status) = c.try_wait().unwrap() {
                self.child = None;
                if self.finite && status.success() {
                    self.done = true;
                } else {
                    eprintln!("chaos: {} exited with {status}; restarting", self.name);
                    self.start();
                }
            }
        }
    }

    fn kill(&mut self) -> bool {
        match self.child.take() {
            Some(mut c) => {
                let _ = c.kill();
                let _ = c.wait();
                true
            }
            None => false,
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        self.kill();
    }
}

/// xorshift64*: a tiny seeded generator, so that a failing schedule can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_kills_of_every_role_and_the_broker_lose_and_double_nothing() {
    let seed: u64 = std::env::var("CANHGAC_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let min_kills: usize = std::env::var("CANHGAC_CHAOS_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    eprintln!("chaos: seed {seed} (CANHGAC_CHAOS_SEED to replay), at least {min_kills} kills");
    let mut rng = Rng(seed);

    // Reference: the same inputs through every stage in one process, undisturbed.
    let reference = tempfile::tempdir().unwrap();
    let mut c = canhgac();
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--once", "--listen", "", "--data-dir"])
        .arg(reference.path());
    rule_args(&mut c);
    for (a, s, p) in inputs() {
        c.arg("--source").arg(format!("{a}:{s}:{}", p.display()));
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "reference run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (want_incidents, want_detections) = index_contents(&reference.path().join("index"));
    assert!(want_detections.len() > 1000);
    eprintln!(
        "chaos: reference {} incidents, {} detections",
        want_incidents.len(),
        want_detections.len()
    );

    let mut broker = Broker::start();
    let work = tempfile::tempdir().unwrap();
    let index_dir = work.path().join("index");
    let brokers = broker.brokers();
    let mut roles: Vec<Role> = Vec::new();
    for (agency, sensor, path) in inputs() {
        let (b, ckpt) = (brokers.clone(), work.path().join("ckpt"));
        roles.push(Role {
            name: format!("sensor {agency}/{sensor}"),
            cmd: Box::new(move || {
                let mut c = canhgac();
                c.args(["sensor", "--once", "--brokers", &b, "--agency", agency])
                    .args(["--sensor", sensor, "--checkpoint-dir"])
                    .arg(&ckpt)
                    .arg(&path);
                c
            }),
            child: None,
            finite: true,
            done: false,
            log: work.path().join(format!("sensor-{agency}.log")),
        });
    }
    for i in 1..=2 {
        let b = brokers.clone();
        roles.push(Role {
            name: format!("detect-{i}"),
            cmd: Box::new(move || {
                let mut c = canhgac();
                c.args(["detect", "--brokers", &b, "--reload-interval", "0"]);
                rule_args(&mut c);
                c
            }),
            child: None,
            finite: false,
            done: false,
            log: work.path().join(format!("detect-{i}.log")),
        });
    }
    {
        let (b, dir) = (brokers.clone(), index_dir.clone());
        roles.push(Role {
            name: "index".into(),
            cmd: Box::new(move || {
                let mut c = canhgac();
                c.args(["index", "--brokers", &b, "--commit-interval-ms", "500"])
                    .arg("--index")
                    .arg(&dir);
                c
            }),
            child: None,
            finite: false,
            done: false,
            log: work.path().join("index.log"),
        });
    }
    for r in &mut roles {
        r.start();
    }

    let deadline = Instant::now() + Duration::from_secs(900);
    let mut kills = Vec::new();
    let mut next_kill = Instant::now() + Duration::from_millis(1500 + rng.below(2500));
    loop {
        for r in &mut roles {
            r.poll();
        }
        let sources_done = roles.iter().all(|r| !r.finite || r.done);
        let n = committed_detections(&index_dir);
        if kills.len() >= min_kills && sources_done && n as usize >= want_detections.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "chaos: not finished in 900 s ({n} of {} detections; kills {kills:?}); logs in {}",
            want_detections.len(),
            work.path().display()
        );
        if Instant::now() >= next_kill {
            // Victims: the live roles and the broker.
            let live: Vec<usize> = (0..roles.len())
                .filter(|&i| roles[i].child.is_some())
                .collect();
            let pick = rng.below(live.len() as u64 + 1) as usize;
            if pick == live.len() {
                broker.kill_and_restart();
                kills.push("broker".to_string());
            } else {
                let r = &mut roles[live[pick]];
                if r.kill() {
                    kills.push(r.name.clone());
                    std::thread::sleep(Duration::from_millis(rng.below(1000)));
                    r.start();
                }
            }
            eprintln!(
                "chaos: kill {} ({}) with {n} detections indexed",
                kills.len(),
                kills.last().unwrap()
            );
            next_kill = Instant::now() + Duration::from_millis(1000 + rng.below(3000));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let late duplicates (replays after the kills) arrive, then compare.
    std::thread::sleep(Duration::from_secs(5));
    for r in &mut roles {
        r.kill();
    }
    let (incidents, detections) = index_contents(&index_dir);
    let missing: Vec<_> = want_detections.difference(&detections).take(5).collect();
    let extra: Vec<_> = detections.difference(&want_detections).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "detections differ after kills {kills:?} (seed {seed}): missing {missing:?}, extra {extra:?}"
    );
    assert_eq!(
        incidents, want_incidents,
        "incident counts differ (seed {seed})"
    );
    eprintln!(
        "chaos: {} kills ({kills:?}); index equals the undisturbed run: {} incidents, {} detections",
        kills.len(),
        incidents.len(),
        detections.len()
    );
}
