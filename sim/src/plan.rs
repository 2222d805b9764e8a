//! Injected attacks: campaigns, whom they hit, when, and their ground truth. The records of an
//! attack are in [`crate::attack`].
//!
//! Attacks come in **campaigns**: a defacement crew going through several portals, a phishing
//! wave sent to several agencies from one sending domain, a malware operation whose implants
//! call one C2. A campaign is one truth attack per agency it hits, linked by the campaign id.
//! Each attack spans one to four days (Asia/Ho_Chi_Minh), crosses day and month boundaries
//! when it falls there, trips several rules and may hit several hosts or mailboxes.
//!
//! Two attacks of one class on one agency never overlap and are at least [`QUIET_DAYS`] days
//! apart: they share a target (the agency's only portal, its mailboxes, its office network),
//! so a pipeline that groups by target within a shorter inactivity gap can tell them apart.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use canhgac_core::detection::vietnam;

use crate::model::Agency;
use crate::rng::Rng;
use crate::{Category, SimConfig, TruthIncident, QUIET_DAYS};

#[derive(Debug, Clone)]
pub enum Kind {
    Deface {
        /// The crew's addresses: the first scans and uploads, the others use the web shell.
        attackers: Vec<Ipv4Addr>,
        crew: String,
        shell: String,
        /// The portal's web server runs Sysmon (file creations are logged).
        sysmon: bool,
    },
    Phishing {
        /// The look-alike domain of this agency the lure links to.
        lookalike: String,
        sender: String,
        subject: String,
        recipients: Vec<usize>,
        attachment: Option<String>,
        relay: Ipv4Addr,
        landing: Ipv4Addr,
        clicks: Vec<usize>,
    },
    Malware {
        /// Infected workstations, in the order they were infected (one a day at most).
        victims: Vec<usize>,
        family: String,
        c2_domain: String,
        c2_ip: Ipv4Addr,
        macro_doc: bool,
        sha256: String,
    },
}

#[derive(Debug, Clone)]
pub struct Attack {
    pub agency: usize,
    pub first_day: NaiveDate,
    /// Days the attack spans (1..=4).
    pub days: u32,
    /// Local start time on the first day (seconds after midnight, UTC+7).
    pub start: u32,
    pub kind: Kind,
    pub truth: TruthIncident,
}

impl Attack {
    pub fn last_day(&self) -> NaiveDate {
        self.first_day + Duration::days(self.days as i64 - 1)
    }
}

const CREWS: [&str; 6] = [
    "sh4d0w_team",
    "anonsec_vn",
    "mr_x_crew",
    "gh0st_lulz",
    "darkc0de",
    "th3_b0ss",
];
const SHELLS: [&str; 6] = [
    "shell.php",
    "wso.php",
    "b374k.php",
    "alfa.php",
    "c99.php",
    "indoxploit.php",
];
const LURES: [&str; 6] = [
    "Thông báo: xác minh tài khoản thư công vụ",
    "[Cảnh báo] Mật khẩu sắp hết hạn",
    "Tài khoản của bạn bị khóa tạm thời",
    "Action required: verify your account",
    "Cập nhật thông tin tài khoản dịch vụ công",
    "Unusual sign-in activity detected",
];
const PHISH_WORDS: [&str; 6] = ["xac-minh", "dang-nhap", "secure", "portal", "auth", "mail"];
const TLDS: [&str; 6] = ["com", "top", "online", "site", "xyz", "info"];
const FAMILIES: [&str; 6] = [
    "PlugX",
    "ShadowPad",
    "AsyncRAT",
    "Remcos",
    "QakBot",
    "Lumma Stealer",
];

pub fn public_ip(rng: &mut Rng) -> Ipv4Addr {
    let first = *rng.pick(&[45u8, 91, 103, 146, 176, 185, 193, 194]);
    Ipv4Addr::new(
        first,
        rng.range(1, 254) as u8,
        rng.range(0, 255) as u8,
        rng.range(1, 254) as u8,
    )
}

/// The UTC instant of a local time of day.
pub fn at(day: NaiveDate, secs: u32) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::MIN) + Duration::seconds(secs.min(86_399) as i64);
    vietnam()
        .from_local_datetime(&local)
        .single()
        .expect("fixed offset")
        .with_timezone(&Utc)
}

pub fn label(domain: &str) -> &str {
    domain.split('.').next().unwrap_or(domain)
}

/// Which days of one agency are taken by attacks of one class.
#[derive(Default)]
struct Timelines(HashMap<(usize, Category), Vec<(NaiveDate, NaiveDate)>>);

impl Timelines {
    fn fits(&self, agency: usize, c: Category, first: NaiveDate, last: NaiveDate) -> bool {
        let quiet = Duration::days(QUIET_DAYS);
        self.0.get(&(agency, c)).is_none_or(|taken| {
            taken
                .iter()
                .all(|(a, b)| first > *b + quiet || last < *a - quiet)
        })
    }

    fn take(&mut self, agency: usize, c: Category, first: NaiveDate, last: NaiveDate) {
        self.0.entry((agency, c)).or_default().push((first, last));
    }
}

/// How many attacks of each class to plan: `attacks_per_class`, or the mix drawn per agency
/// and month.
fn targets(cfg: &SimConfig, agencies: &[Agency]) -> [(Category, u64); 3] {
    if let Some(n) = cfg.attacks_per_class {
        let n = n as u64;
        return [
            (Category::Deface, n),
            (Category::Phishing, n),
            (Category::Malware, n),
        ];
    }
    let (mut deface, mut phishing, mut malware) = (0, 0, 0);
    let mut month = cfg.from;
    while month <= cfg.to {
        for agency in agencies {
            let mut rng = Rng::derive(
                cfg.seed,
                &[b"plan", agency.id.as_bytes(), month.to_string().as_bytes()],
            );
            if agency.portal.is_some() {
                deface += rng.poisson(cfg.mix.deface);
            }
            phishing += rng.poisson(cfg.mix.phishing);
            malware += rng.poisson(cfg.mix.malware);
        }
        month = month.next();
    }
    [
        (Category::Deface, deface),
        (Category::Phishing, phishing),
        (Category::Malware, malware),
    ]
}

/// Campaign sizes (agencies hit) of a class.
fn campaign_size(rng: &mut Rng, c: Category) -> usize {
    let roll = rng.below(100);
    let cuts: [u64; 3] = match c {
        Category::Phishing => [45, 75, 90],
        _ => [70, 90, 100],
    };
    1 + cuts.iter().filter(|cut| roll >= **cut).count()
}

/// What one campaign shares across the agencies it hits.
struct Campaign {
    id: String,
    crew: String,
    shell: String,
    attackers: Vec<Ipv4Addr>,
    sending_domain: String,
    subject: String,
    relay: Ipv4Addr,
    landing: Ipv4Addr,
    word: &'static str,
    tld: &'static str,
    family: String,
    c2_domain: String,
    c2_ip: Ipv4Addr,
    sha256: String,
}

impl Campaign {
    fn new(rng: &mut Rng, id: String) -> Campaign {
        let attackers = (0..rng.range(1, 3)).map(|_| public_ip(rng)).collect();
        let word = *rng.pick(&PHISH_WORDS);
        let tld = *rng.pick(&TLDS);
        Campaign {
            id,
            crew: rng.pick(&CREWS).to_string(),
            shell: rng.pick(&SHELLS).to_string(),
            attackers,
            sending_domain: format!("{}-{}.{}", word, rng.hex(5), rng.pick(&TLDS)),
            subject: rng.pick(&LURES).to_string(),
            relay: public_ip(rng),
            landing: public_ip(rng),
            word,
            tld,
            family: rng.pick(&FAMILIES).to_string(),
            c2_domain: format!("{}.{}", rng.hex(10), rng.pick(&TLDS)),
            c2_ip: public_ip(rng),
            sha256: rng.hex(64),
        }
    }

    /// The attack of this campaign on `agency`.
    fn kind(&self, rng: &mut Rng, c: Category, agency: &Agency, days: u32) -> Kind {
        match c {
            Category::Deface => Kind::Deface {
                attackers: self.attackers.clone(),
                crew: self.crew.clone(),
                shell: self.shell.clone(),
                sysmon: rng.chance(0.6),
            },
            Category::Phishing => {
                let l = label(&agency.domain);
                let tag = rng.hex(4);
                let (word, tld) = (self.word, self.tld);
                let lookalike = match rng.below(3) {
                    0 => format!("{l}.gov.vn.{word}-{tag}.{tld}"),
                    1 => format!("{l}-gov-vn-{word}{tag}.{tld}"),
                    _ => format!("{l}govvn-{word}-{tag}.{tld}"),
                };
                let n = rng.range(4, 12);
                let recipients = distinct(rng, agency.workstations.len(), n);
                let clicks = recipients
                    .iter()
                    .copied()
                    .filter(|_| rng.chance(0.4))
                    .collect();
                let attachment = rng.chance(0.4).then(|| {
                    rng.pick(&[
                        "HuongDan_XacMinh.html",
                        "CongVan_KhanCap.docm",
                        "ThongBao.iso",
                    ])
                    .to_string()
                });
                Kind::Phishing {
                    lookalike,
                    sender: format!("ho-tro@{}", self.sending_domain),
                    subject: self.subject.clone(),
                    recipients,
                    attachment,
                    relay: self.relay,
                    landing: self.landing,
                    clicks,
                }
            }
            _ => {
                let n = rng.range(1, 3).min(days as u64);
                Kind::Malware {
                    victims: distinct(rng, agency.workstations.len(), n),
                    family: self.family.clone(),
                    c2_domain: self.c2_domain.clone(),
                    c2_ip: self.c2_ip,
                    macro_doc: rng.chance(0.5),
                    sha256: self.sha256.clone(),
                }
            }
        }
    }
}

/// `n` distinct indexes below `len`.
fn distinct(rng: &mut Rng, len: usize, n: u64) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    while out.len() < (n as usize).min(len) {
        let r = rng.below(len as u64) as usize;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Plans every attack of the range, ordered by first time.
pub fn plan(cfg: &SimConfig, agencies: &[Agency]) -> Vec<Attack> {
    let period_start = cfg.from.first_day();
    let period_days = (cfg.to.next().first_day() - period_start).num_days() as u64;
    let mut timelines = Timelines::default();
    let mut out = Vec::new();
    for (category, target) in targets(cfg, agencies) {
        let eligible: Vec<usize> = (0..agencies.len())
            .filter(|i| category != Category::Deface || agencies[*i].portal.is_some())
            .collect();
        if eligible.is_empty() {
            continue;
        }
        let mut rng = Rng::derive(cfg.seed, &[b"campaigns", category.as_str().as_bytes()]);
        let (mut made, mut tries, mut n) = (0u64, 0u64, 0u32);
        while made < target && tries < target * 20 + 20 {
            tries += 1;
            n += 1;
            let campaign = Campaign::new(&mut rng, format!("camp-{}-{n:04}", category.as_str()));
            let size = campaign_size(&mut rng, category).min(eligible.len());
            let members = distinct(&mut rng, eligible.len(), size as u64);
            let day0 = rng.below(period_days);
            for (k, m) in members.into_iter().enumerate() {
                if made == target {
                    break;
                }
                let ai = eligible[m];
                let days = rng.range(1, 4) as u32;
                let offset = if k == 0 { 0 } else { rng.below(3) };
                let first = day0 + offset;
                if first + days as u64 > period_days {
                    continue;
                }
                let first_day = period_start + Duration::days(first as i64);
                let last_day = first_day + Duration::days(days as i64 - 1);
                if !timelines.fits(ai, category, first_day, last_day) {
                    continue;
                }
                timelines.take(ai, category, first_day, last_day);
                let agency = &agencies[ai];
                let kind = campaign.kind(&mut rng, category, agency, days);
                let start = rng.range(7 * 3600, 19 * 3600) as u32;
                let mut attack = Attack {
                    agency: ai,
                    first_day,
                    days,
                    start,
                    kind,
                    truth: TruthIncident {
                        truth_id: format!("sim-{}-{n:04}-{}", category.as_str(), agency.id),
                        campaign: Some(campaign.id.clone()),
                        agency: agency.id.clone(),
                        system: None,
                        category,
                        first_time: at(first_day, start),
                        last_time: at(first_day, start),
                        key_entity: String::new(),
                        attack_entities: Vec::new(),
                        targets: Vec::new(),
                        entities: Vec::new(),
                        description: String::new(),
                    },
                };
                let records = attack.records(agency, cfg.seed);
                attack.truth.first_time = records.iter().map(|r| r.time).min().expect("records");
                attack.truth.last_time = records.iter().map(|r| r.time).max().expect("records");
                fill_truth(&mut attack, agency);
                out.push(attack);
                made += 1;
            }
        }
    }
    out.sort_by(|a, b| {
        a.truth
            .first_time
            .cmp(&b.truth.first_time)
            .then(a.truth.truth_id.cmp(&b.truth.truth_id))
    });
    out
}

fn fill_truth(a: &mut Attack, agency: &Agency) {
    let days = a.days;
    let t = &mut a.truth;
    let span = if days == 1 {
        "one day".to_string()
    } else {
        format!("{days} days")
    };
    match &a.kind {
        Kind::Deface {
            attackers,
            crew,
            shell,
            ..
        } => {
            let p = agency.portal.as_ref().expect("deface needs a portal");
            t.system = Some(p.system.clone());
            t.key_entity = p.domain.clone();
            t.attack_entities = attackers.iter().map(|a| a.to_string()).collect();
            t.attack_entities.push(format!("/uploads/{shell}"));
            t.targets = vec![p.domain.clone(), p.ip.to_string()];
            t.targets
                .extend(p.hosts.iter().map(|h| h.to_ascii_lowercase()));
            t.description = format!(
                "defacement of {} by {crew} through web shell {shell} from {}, over {span}",
                p.domain, t.attack_entities[0]
            );
        }
        Kind::Phishing {
            lookalike,
            sender,
            recipients,
            relay,
            landing,
            ..
        } => {
            t.system = agency.office_system.clone();
            t.key_entity = lookalike.clone();
            let sending = sender.rsplit_once('@').map_or("", |(_, d)| d).to_string();
            t.attack_entities = vec![
                lookalike.clone(),
                sender.clone(),
                sending,
                relay.to_string(),
                landing.to_string(),
            ];
            t.targets = recipients
                .iter()
                .map(|r| format!("{}@{}", agency.workstations[*r].user, agency.domain))
                .collect();
            t.description = format!(
                "phishing from {sender} to {} mailboxes, look-alike {lookalike}, over {span}",
                recipients.len()
            );
        }
        Kind::Malware {
            victims,
            family,
            c2_domain,
            c2_ip,
            macro_doc,
            sha256,
        } => {
            t.system = agency.office_system.clone();
            t.key_entity = c2_domain.clone();
            t.attack_entities = vec![c2_domain.clone(), c2_ip.to_string(), sha256.clone()];
            for v in victims {
                let w = &agency.workstations[*v];
                t.targets.push(w.name.to_ascii_lowercase());
                t.targets.push(w.ip.to_string());
            }
            let how = if *macro_doc {
                "macro document"
            } else {
                "fake update"
            };
            t.description = format!(
                "{family} infection of {} workstation(s) via {how}, C2 {c2_domain} ({c2_ip}), over {span}",
                victims.len()
            );
        }
    }
    t.entities = t
        .attack_entities
        .iter()
        .chain(&t.targets)
        .cloned()
        .collect();
}
