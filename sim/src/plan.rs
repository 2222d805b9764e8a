//! Injected attacks: when they happen, what they look like, and their ground truth.
//!
//! Every attack happens within one day (Asia/Ho_Chi_Minh) between 07:00 and 23:59, so that
//! each rule it trips makes one incident (incident windows are days in UTC+7). Two
//! defacements of one agency never share a day: combined access logs do not name the server,
//! so the pipeline cannot tell two same-day defacements of one agency apart.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use canhgac_core::detection::vietnam;

use crate::model::{Agency, Workstation};
use crate::render::{self, Attachment};
use crate::rng::Rng;
use crate::{Category, SimConfig, SimRecord, Stream, TruthIncident};

#[derive(Debug, Clone)]
pub enum Kind {
    Deface {
        attacker: Ipv4Addr,
        crew: String,
        shell: String,
        sysmon: bool,
    },
    Phishing {
        domain: String,
        sender: String,
        subject: String,
        recipients: Vec<usize>,
        attachment: Option<String>,
        relay: Ipv4Addr,
        landing: Ipv4Addr,
        clicks: Vec<usize>,
    },
    Malware {
        victim: usize,
        family: String,
        c2_domain: String,
        c2_ip: Ipv4Addr,
        macro_doc: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Attack {
    pub agency: usize,
    pub day: NaiveDate,
    /// Local start time (seconds after midnight, UTC+7).
    pub start: u32,
    pub kind: Kind,
    pub truth: TruthIncident,
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
const FAKE_UPDATES: [&str; 4] = [
    "chrome_update.exe",
    "FlashPlayer_setup.exe",
    "java_update_x64.exe",
    "Zalo_patch_2026.exe",
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
    let local = day.and_time(NaiveTime::MIN) + Duration::seconds(secs as i64);
    vietnam()
        .from_local_datetime(&local)
        .single()
        .expect("fixed offset")
        .with_timezone(&Utc)
}

fn label(domain: &str) -> &str {
    domain.split('.').next().unwrap_or(domain)
}

/// Plans every attack of the range.
pub fn plan(cfg: &SimConfig, agencies: &[Agency]) -> Vec<Attack> {
    let mut out = Vec::new();
    let mut month = cfg.from;
    while month <= cfg.to {
        for (ai, agency) in agencies.iter().enumerate() {
            let mut rng = Rng::derive(
                cfg.seed,
                &[b"plan", agency.id.as_bytes(), month.to_string().as_bytes()],
            );
            let mut deface_days = HashSet::new();
            let mut victims = HashSet::new();
            let counts = [
                (
                    Category::Deface,
                    if agency.portal.is_some() {
                        rng.poisson(cfg.mix.deface)
                    } else {
                        0
                    },
                ),
                (Category::Phishing, rng.poisson(cfg.mix.phishing)),
                (Category::Malware, rng.poisson(cfg.mix.malware)),
            ];
            for (category, n) in counts {
                for i in 0..n {
                    let mut day =
                        month.first_day() + Duration::days(rng.below(month.days() as u64) as i64);
                    if category == Category::Deface {
                        let mut tries = 0;
                        while !deface_days.insert(day) && tries < 64 {
                            day = month.first_day()
                                + Duration::days(rng.below(month.days() as u64) as i64);
                            tries += 1;
                        }
                        if tries == 64 {
                            continue;
                        }
                    }
                    let start = rng.range(7 * 3600, 19 * 3600) as u32;
                    let kind = match category {
                        Category::Deface => Kind::Deface {
                            attacker: public_ip(&mut rng),
                            crew: rng.pick(&CREWS).to_string(),
                            shell: rng.pick(&SHELLS).to_string(),
                            sysmon: rng.chance(0.5),
                        },
                        Category::Phishing => {
                            let l = label(&agency.domain);
                            let word = *rng.pick(&PHISH_WORDS);
                            let tld = *rng.pick(&TLDS);
                            let tag = rng.hex(4);
                            let domain = match rng.below(3) {
                                0 => format!("{l}.gov.vn.{word}-{tag}.{tld}"),
                                1 => format!("{l}-gov-vn-{word}{tag}.{tld}"),
                                _ => format!("{l}govvn-{word}-{tag}.{tld}"),
                            };
                            let n = rng.range(4, 12) as usize;
                            let mut recipients: Vec<usize> = Vec::new();
                            while recipients.len() < n {
                                let r = rng.below(agency.workstations.len() as u64) as usize;
                                if !recipients.contains(&r) {
                                    recipients.push(r);
                                }
                            }
                            let clicks = recipients
                                .iter()
                                .copied()
                                .filter(|_| rng.chance(0.4))
                                .collect();
                            Kind::Phishing {
                                sender: format!("no-reply@{domain}"),
                                subject: rng.pick(&LURES).to_string(),
                                attachment: rng.chance(0.4).then(|| {
                                    rng.pick(&[
                                        "HuongDan_XacMinh.html",
                                        "CongVan_KhanCap.docm",
                                        "ThongBao.iso",
                                    ])
                                    .to_string()
                                }),
                                relay: public_ip(&mut rng),
                                landing: public_ip(&mut rng),
                                domain,
                                recipients,
                                clicks,
                            }
                        }
                        _ => {
                            let mut victim = rng.below(agency.workstations.len() as u64) as usize;
                            while !victims.insert(victim) {
                                victim = (victim + 1) % agency.workstations.len();
                            }
                            Kind::Malware {
                                victim,
                                family: rng.pick(&FAMILIES).to_string(),
                                c2_domain: format!("{}.{}", rng.hex(10), rng.pick(&TLDS)),
                                c2_ip: public_ip(&mut rng),
                                macro_doc: rng.chance(0.5),
                            }
                        }
                    };
                    let truth_id =
                        format!("sim-{month}-{}-{}-{}", agency.id, category.as_str(), i + 1);
                    let mut attack = Attack {
                        agency: ai,
                        day,
                        start,
                        kind,
                        truth: TruthIncident {
                            truth_id,
                            agency: agency.id.clone(),
                            system: None,
                            category,
                            first_time: at(day, start),
                            last_time: at(day, start),
                            key_entity: String::new(),
                            entities: Vec::new(),
                            description: String::new(),
                        },
                    };
                    let records = attack.records(agency, cfg.seed);
                    attack.truth.first_time =
                        records.iter().map(|r| r.time).min().expect("records");
                    attack.truth.last_time = records.iter().map(|r| r.time).max().expect("records");
                    fill_truth(&mut attack, agency);
                    out.push(attack);
                }
            }
        }
        month = month.next();
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
    let t = &mut a.truth;
    match &a.kind {
        Kind::Deface {
            attacker,
            crew,
            shell,
            ..
        } => {
            let p = agency.portal.as_ref().expect("deface needs a portal");
            t.system = Some(p.system.clone());
            t.key_entity = p.domain.clone();
            t.entities = vec![
                p.domain.clone(),
                attacker.to_string(),
                p.host.to_ascii_lowercase(),
                p.ip.to_string(),
            ];
            t.description = format!(
                "defacement of {} by {crew} through web shell {shell} from {attacker}",
                p.domain
            );
        }
        Kind::Phishing {
            domain,
            sender,
            recipients,
            ..
        } => {
            t.system = agency.office_system.clone();
            t.key_entity = domain.clone();
            t.entities = vec![domain.clone(), sender.clone()];
            t.description = format!(
                "phishing wave from {sender} to {} users, look-alike {domain}",
                recipients.len()
            );
        }
        Kind::Malware {
            victim,
            family,
            c2_domain,
            c2_ip,
            macro_doc,
        } => {
            let w = &agency.workstations[*victim];
            t.system = agency.office_system.clone();
            t.key_entity = w.name.to_ascii_lowercase();
            t.entities = vec![
                w.name.to_ascii_lowercase(),
                w.ip.to_string(),
                c2_domain.clone(),
                c2_ip.to_string(),
            ];
            let how = if *macro_doc {
                "macro document"
            } else {
                "fake update"
            };
            t.description = format!(
                "{family} infection of {} via {how}, C2 {c2_domain} ({c2_ip})",
                w.name
            );
        }
    }
}

struct Out<'a> {
    agency: &'a Agency,
    truth: &'a str,
    day: NaiveDate,
    records: Vec<SimRecord>,
}

impl Out<'_> {
    fn push(&mut self, secs: u32, stream: Stream, bytes: Vec<u8>) {
        self.records.push(SimRecord {
            agency: self.agency.id.clone(),
            stream,
            time: at(self.day, secs),
            bytes,
            truth_id: Some(self.truth.to_string()),
        });
    }
}

const ATTACK_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/118.0";

impl Attack {
    /// The attack's records (deterministic).
    pub fn records(&self, agency: &Agency, seed: u64) -> Vec<SimRecord> {
        let mut rng = Rng::derive(seed, &[b"attack", self.truth.truth_id.as_bytes()]);
        let mut o = Out {
            agency,
            truth: &self.truth.truth_id,
            day: self.day,
            records: Vec::new(),
        };
        let mut t = self.start;
        let rid = 9_000_000 + rng.below(1_000_000);
        match &self.kind {
            Kind::Deface {
                attacker,
                crew,
                shell,
                sysmon,
            } => {
                let p = agency.portal.as_ref().expect("portal");
                for path in [
                    "/robots.txt",
                    "/admin/",
                    "/upload.php",
                    "/.env",
                    "/uploads/",
                ] {
                    let status = if path == "/upload.php" {
                        200
                    } else {
                        *rng.pick(&[403u16, 404])
                    };
                    o.push(
                        t,
                        Stream::Web,
                        render::web_combined(
                            at(self.day, t),
                            *attacker,
                            "GET",
                            path,
                            status,
                            512,
                            "-",
                            ATTACK_UA,
                        ),
                    );
                    t += rng.range(2, 20) as u32;
                }
                t += rng.range(60, 600) as u32;
                let up = format!("/upload.php?type=image&name={shell}");
                o.push(
                    t,
                    Stream::Web,
                    render::web_combined(
                        at(self.day, t),
                        *attacker,
                        "POST",
                        &up,
                        200,
                        87,
                        "-",
                        ATTACK_UA,
                    ),
                );
                if *sysmon {
                    let target = format!("C:\\xampp\\htdocs\\uploads\\{shell}");
                    o.push(
                        t + 1,
                        Stream::Windows,
                        render::sysmon_file_created(
                            at(self.day, t + 1),
                            rid,
                            &p.host,
                            "C:\\xampp\\apache\\bin\\httpd.exe",
                            &target,
                        ),
                    );
                }
                for cmd in [
                    "id",
                    "uname%20-a",
                    "ls%20-la%20..%2F",
                    "wget%20http%3A%2F%2F",
                ] {
                    t += rng.range(5, 90) as u32;
                    let target = format!("/uploads/{shell}?cmd={cmd}");
                    o.push(
                        t,
                        Stream::Web,
                        render::web_combined(
                            at(self.day, t),
                            *attacker,
                            "GET",
                            &target,
                            200,
                            1432,
                            "-",
                            ATTACK_UA,
                        ),
                    );
                }
                t += rng.range(60, 900) as u32;
                o.push(
                    t,
                    Stream::Web,
                    render::web_combined(
                        at(self.day, t),
                        *attacker,
                        "PUT",
                        "/index.html",
                        201,
                        0,
                        "-",
                        ATTACK_UA,
                    ),
                );
                t += rng.range(5, 60) as u32;
                let page = format!("/hacked_by_{crew}.html");
                o.push(
                    t,
                    Stream::Web,
                    render::web_combined(
                        at(self.day, t),
                        *attacker,
                        "PUT",
                        &page,
                        201,
                        0,
                        "-",
                        ATTACK_UA,
                    ),
                );
                t += rng.range(5, 60) as u32;
                let check = format!("/index.html?msg=hacked+by+{crew}");
                o.push(
                    t,
                    Stream::Web,
                    render::web_combined(
                        at(self.day, t),
                        *attacker,
                        "GET",
                        &check,
                        200,
                        2211,
                        "-",
                        ATTACK_UA,
                    ),
                );
            }
            Kind::Phishing {
                domain,
                sender,
                subject,
                recipients,
                attachment,
                relay,
                landing,
                clicks,
            } => {
                for (n, r) in recipients.iter().enumerate() {
                    let w = &agency.workstations[*r];
                    let to = format!("{}@{}", w.user, agency.domain);
                    let body = format!(
                        "Kính gửi anh/chị {},\r\n\r\nHệ thống thư công vụ phát hiện tài khoản của anh/chị cần xác minh lại. \
                         Vui lòng đăng nhập tại https://{domain}/dang-nhap?u={} trong vòng 24 giờ để tránh bị khóa.\r\n\r\nBộ phận hỗ trợ kỹ thuật\r\n",
                        w.user, w.user
                    );
                    let att_bytes = format!("<html><form action=\"https://{domain}/post\">Mật khẩu: <input type=password></form></html>");
                    let att = attachment.as_deref().map(|name| Attachment {
                        name,
                        content_type: if name.ends_with(".html") {
                            "text/html"
                        } else {
                            "application/octet-stream"
                        },
                        content: att_bytes.as_bytes(),
                    });
                    let mid = format!("{}.{}@{domain}", rng.hex(12), n);
                    o.push(
                        t,
                        Stream::Mail,
                        render::eml(
                            at(self.day, t),
                            &mid,
                            "Bộ phận hỗ trợ",
                            sender,
                            &to,
                            subject,
                            &body,
                            &agency.mail_host,
                            *relay,
                            att,
                        ),
                    );
                    t += rng.range(3, 120) as u32;
                }
                for r in clicks {
                    let w = &agency.workstations[*r];
                    let c = t + rng.range(60, 3 * 3600) as u32;
                    let uid = format!("C{}", rng.hex(17));
                    o.push(
                        c,
                        Stream::ZeekDns,
                        render::zeek_dns(
                            at(self.day, c),
                            &uid,
                            w.ip,
                            rng.range(49152, 65535) as u16,
                            agency.dns_server,
                            domain,
                            &[*landing],
                        ),
                    );
                }
            }
            Kind::Malware {
                victim,
                family,
                c2_domain,
                c2_ip,
                macro_doc,
            } => {
                let w: &Workstation = &agency.workstations[*victim];
                let user = format!("{}\\{}", label(&agency.domain).to_ascii_uppercase(), w.user);
                let home = format!("C:\\Users\\{}", w.user);
                let sha = rng.hex(64);
                if *macro_doc {
                    let word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE";
                    let doc = format!(
                        "\"{word}\" /n \"{home}\\Downloads\\CongVan_{}.doc\"",
                        rng.range(100, 999)
                    );
                    let cmd = format!("powershell.exe -nop -w hidden -enc {}", rng.hex(48));
                    o.push(
                        t,
                        Stream::Windows,
                        render::sysmon_process(
                            at(self.day, t),
                            rid,
                            &w.name,
                            &user,
                            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                            &cmd,
                            word,
                            &doc,
                            &sha,
                        ),
                    );
                } else {
                    let exe = format!("{home}\\Downloads\\{}", rng.pick(&FAKE_UPDATES));
                    o.push(
                        t,
                        Stream::Windows,
                        render::sysmon_process(
                            at(self.day, t),
                            rid,
                            &w.name,
                            &user,
                            &exe,
                            &format!("\"{exe}\""),
                            "C:\\Windows\\explorer.exe",
                            "C:\\Windows\\Explorer.EXE",
                            &sha,
                        ),
                    );
                }
                t += rng.range(5, 120) as u32;
                for beacon in 0..rng.range(2, 5) {
                    let uid = format!("C{}", rng.hex(17));
                    o.push(
                        t,
                        Stream::ZeekDns,
                        render::zeek_dns(
                            at(self.day, t),
                            &uid,
                            w.ip,
                            rng.range(49152, 65535) as u16,
                            agency.dns_server,
                            c2_domain,
                            &[*c2_ip],
                        ),
                    );
                    t += rng.range(1, 3) as u32;
                    let sig = format!("ET MALWARE {family} CnC Beacon");
                    o.push(
                        t,
                        Stream::Suricata,
                        render::suricata_alert(
                            at(self.day, t),
                            rng.next_u64() >> 12,
                            w.ip,
                            rng.range(49152, 65535) as u16,
                            *c2_ip,
                            443,
                            2_850_000 + beacon as u32,
                            &sig,
                            "A Network Trojan was detected",
                            1,
                            None,
                        ),
                    );
                    t += rng.range(300, 1800) as u32;
                }
            }
        }
        o.records
    }
}
