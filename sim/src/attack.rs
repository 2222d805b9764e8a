//! The records of an attack, day by day, in the formats sensors read. Attacks use behaviours
//! that generic rules detect (a web shell requested, a page written by PUT, a defacer's
//! signature, an Office program starting PowerShell, an update run from Downloads, an IDS
//! alert for C2 traffic, a lure subject and a link to a look-alike `.gov.vn` domain, DNS
//! look-ups of that domain), spread over the attack's days and hosts.

use chrono::{Duration, NaiveDate};

use crate::model::{Agency, Workstation};
use crate::plan::{at, label, Attack, Kind};
use crate::render::{self, Attachment, WinHost};
use crate::rng::Rng;
use crate::{SimRecord, Stream};

const ATTACK_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/118.0";
const FAKE_UPDATES: [&str; 4] = [
    "chrome_update.exe",
    "FlashPlayer_setup.exe",
    "java_update_x64.exe",
    "Zalo_patch_2026.exe",
];
const SHELL_COMMANDS: [&str; 8] = [
    "id",
    "uname%20-a",
    "ls%20-la%20..%2F",
    "cat%20..%2Fconfig.php",
    "whoami",
    "ps%20aux",
    "netstat%20-an",
    "wget%20http%3A%2F%2F",
];

struct Out<'a> {
    agency: &'a Agency,
    truth: &'a str,
    records: Vec<SimRecord>,
}

impl Out<'_> {
    fn push(&mut self, day: NaiveDate, secs: u32, stream: Stream, bytes: Vec<u8>) {
        self.records.push(SimRecord {
            agency: self.agency.id.clone(),
            stream,
            time: at(day, secs),
            bytes,
            truth_id: Some(self.truth.to_string()),
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn web(
        &mut self,
        day: NaiveDate,
        t: u32,
        client: std::net::Ipv4Addr,
        method: &str,
        target: &str,
        status: u16,
        bytes: u64,
    ) {
        let vhost = &self.agency.portal.as_ref().expect("portal").domain;
        let line = render::web_access(
            at(day, t),
            vhost,
            client,
            method,
            target,
            status,
            bytes,
            "-",
            ATTACK_UA,
        );
        self.push(day, t, Stream::Web, line);
    }
}

impl Attack {
    /// The day `d` (0-based) of the attack and a local start time on it.
    fn day(&self, rng: &mut Rng, d: u32) -> (NaiveDate, u32) {
        let day = self.first_day + Duration::days(d as i64);
        let start = if d == 0 {
            self.start
        } else {
            rng.range(7 * 3600, 19 * 3600) as u32
        };
        (day, start)
    }

    /// The attack's records over all its days (deterministic).
    pub fn records(&self, agency: &Agency, seed: u64) -> Vec<SimRecord> {
        let mut rng = Rng::derive(seed, &[b"attack", self.truth.truth_id.as_bytes()]);
        let mut o = Out {
            agency,
            truth: &self.truth.truth_id,
            records: Vec::new(),
        };
        match &self.kind {
            Kind::Deface { .. } => self.deface(&mut rng, &mut o),
            Kind::Phishing { .. } => self.phishing(&mut rng, &mut o),
            Kind::Malware { .. } => self.malware(&mut rng, &mut o),
        }
        o.records.sort_by_key(|r| r.time);
        o.records
    }

    /// Day 1: scan, upload of the web shell, first commands. Middle days: commands through the
    /// shell (from the crew's other addresses too). Last day: the index page replaced by PUT,
    /// the crew's page, a check of the result.
    fn deface(&self, rng: &mut Rng, o: &mut Out<'_>) {
        let Kind::Deface {
            attackers,
            crew,
            shell,
            sysmon,
        } = &self.kind
        else {
            unreachable!()
        };
        let p = o.agency.portal.clone().expect("portal");
        let rid = 9_000_000 + rng.below(1_000_000);
        let (day, mut t) = self.day(rng, 0);
        let a0 = attackers[0];
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
            o.web(day, t, a0, "GET", path, status, 512);
            t += rng.range(2, 20) as u32;
        }
        t += rng.range(60, 600) as u32;
        let up = format!("/upload.php?type=image&name={shell}");
        o.web(day, t, a0, "POST", &up, 200, 87);
        if *sysmon {
            let target = format!("C:\\xampp\\htdocs\\uploads\\{shell}");
            let bytes = render::sysmon_file_created(
                at(day, t + 1),
                rid,
                WinHost::Evtx(&p.hosts[0]),
                "C:\\xampp\\apache\\bin\\httpd.exe",
                &target,
            );
            o.push(day, t + 1, Stream::Windows, bytes);
        }
        let shell_use = |o: &mut Out<'_>, rng: &mut Rng, day: NaiveDate, t: &mut u32, n: u64| {
            for _ in 0..n {
                *t += rng.range(5, 90) as u32;
                let cmd = rng.pick(&SHELL_COMMANDS);
                let who = *rng.pick(attackers);
                let target = format!("/uploads/{shell}?cmd={cmd}");
                o.web(day, *t, who, "GET", &target, 200, 1432);
            }
        };
        let n = rng.range(1, 3);
        shell_use(o, rng, day, &mut t, n);
        for d in 1..self.days {
            let (day, mut t) = self.day(rng, d);
            let n = rng.range(2, 5);
            shell_use(o, rng, day, &mut t, n);
        }
        let (day, mut t) = if self.days == 1 {
            (day, t + rng.range(60, 900) as u32)
        } else {
            let (day, t) = self.day(rng, self.days - 1);
            (day, t + 3600)
        };
        let who = *rng.pick(attackers);
        o.web(day, t, who, "PUT", "/index.html", 201, 0);
        if *sysmon {
            let host = &p.hosts[rng.below(p.hosts.len() as u64) as usize];
            let bytes = render::sysmon_file_created(
                at(day, t + 1),
                rid + 1,
                WinHost::Evtx(host),
                "C:\\xampp\\apache\\bin\\httpd.exe",
                "C:\\xampp\\htdocs\\index.html",
            );
            o.push(day, t + 1, Stream::Windows, bytes);
        }
        t += rng.range(5, 60) as u32;
        o.web(
            day,
            t,
            who,
            "PUT",
            &format!("/hacked_by_{crew}.html"),
            201,
            0,
        );
        t += rng.range(5, 60) as u32;
        let check = format!("/index.html?msg=hacked+by+{crew}");
        o.web(day, t, who, "GET", &check, 200, 2211);
    }

    /// Day 1: the wave to most recipients; a reminder to the rest on the last day; the users
    /// who click look the domain up, on the day of their mail or a later one.
    fn phishing(&self, rng: &mut Rng, o: &mut Out<'_>) {
        let Kind::Phishing {
            lookalike,
            sender,
            subject,
            recipients,
            attachment,
            relay,
            landing,
            clicks,
        } = &self.kind
        else {
            unreachable!()
        };
        let agency = o.agency;
        let reminder_from = if self.days > 1 {
            recipients.len() * 2 / 3
        } else {
            recipients.len()
        };
        let (mut day, mut t) = self.day(rng, 0);
        let mut sent_day = Vec::new();
        for (n, r) in recipients.iter().enumerate() {
            let mut subject = subject.clone();
            if n == reminder_from {
                (day, t) = self.day(rng, self.days - 1);
            }
            if n >= reminder_from {
                subject = format!("Nhắc lại: {subject}");
            }
            let w = &agency.workstations[*r];
            let to = format!("{}@{}", w.user, agency.domain);
            let body = format!(
                "Kính gửi anh/chị {},\r\n\r\nHệ thống thư công vụ phát hiện tài khoản của anh/chị cần xác minh lại. \
                 Vui lòng đăng nhập tại https://{lookalike}/dang-nhap?u={} trong vòng 24 giờ để tránh bị khóa.\r\n\r\nBộ phận hỗ trợ kỹ thuật\r\n",
                w.user, w.user
            );
            let att_bytes = format!(
                "<html><form action=\"https://{lookalike}/post\">Mật khẩu: <input type=password></form></html>"
            );
            let att = attachment.as_deref().map(|name| Attachment {
                name,
                content_type: if name.ends_with(".html") {
                    "text/html"
                } else {
                    "application/octet-stream"
                },
                content: att_bytes.as_bytes(),
            });
            let mid = format!("{}.{}@{}", rng.hex(12), n, label(lookalike));
            let mail = render::eml(
                at(day, t),
                &mid,
                "Bộ phận hỗ trợ",
                sender,
                &to,
                &subject,
                &body,
                &agency.mail_host,
                *relay,
                att,
            );
            o.push(day, t, Stream::Mail, mail);
            sent_day.push((*r, day, t));
            t += rng.range(3, 120) as u32;
        }
        for r in clicks {
            let Some(&(_, day, sent)) = sent_day.iter().find(|(x, _, _)| x == r) else {
                continue;
            };
            let w = &agency.workstations[*r];
            let last = self.last_day();
            let (day, c) = if day < last && rng.chance(0.3) {
                (
                    day + Duration::days(1),
                    rng.range(7 * 3600, 17 * 3600) as u32,
                )
            } else {
                (day, sent + rng.range(60, 3 * 3600) as u32)
            };
            for _ in 0..rng.range(1, 2) {
                let uid = format!("C{}", rng.hex(17));
                let q = render::zeek_dns(
                    at(day, c),
                    &uid,
                    w.ip,
                    rng.range(49152, 65535) as u16,
                    agency.dns_server,
                    lookalike,
                    &[*landing],
                );
                o.push(day, c, Stream::ZeekDns, q);
            }
        }
    }

    /// Day 1: the first workstation runs the payload (a macro document starting PowerShell or
    /// a fake update from Downloads); one more workstation a day runs it after that. Every
    /// infected workstation looks its C2 up and beacons to it (IDS alerts) every day.
    fn malware(&self, rng: &mut Rng, o: &mut Out<'_>) {
        let Kind::Malware {
            victims,
            family,
            c2_domain,
            c2_ip,
            macro_doc,
            sha256,
        } = &self.kind
        else {
            unreachable!()
        };
        let agency = o.agency;
        let rid = 8_000_000 + rng.below(1_000_000);
        for d in 0..self.days {
            let (day, start) = self.day(rng, d);
            for (k, v) in victims.iter().enumerate() {
                if k as u32 > d {
                    break;
                }
                let w: &Workstation = &agency.workstations[*v];
                let mut t = start + rng.range(0, 1800) as u32;
                if k as u32 == d {
                    self.infect(rng, o, day, t, rid + k as u64, w, *macro_doc, sha256);
                    t += rng.range(5, 120) as u32;
                }
                for beacon in 0..rng.range(1, 3) {
                    let uid = format!("C{}", rng.hex(17));
                    let q = render::zeek_dns(
                        at(day, t),
                        &uid,
                        w.ip,
                        rng.range(49152, 65535) as u16,
                        agency.dns_server,
                        c2_domain,
                        &[*c2_ip],
                    );
                    o.push(day, t, Stream::ZeekDns, q);
                    t += rng.range(1, 3) as u32;
                    let sig = format!("ET MALWARE {family} CnC Beacon");
                    let alert = render::suricata_alert(
                        at(day, t),
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
                    );
                    o.push(day, t, Stream::Suricata, alert);
                    t += rng.range(300, 1800) as u32;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn infect(
        &self,
        rng: &mut Rng,
        o: &mut Out<'_>,
        day: NaiveDate,
        t: u32,
        rid: u64,
        w: &Workstation,
        macro_doc: bool,
        sha256: &str,
    ) {
        let domain = label(&o.agency.domain).to_ascii_uppercase();
        let user = format!("{domain}\\{}", w.user);
        let home = format!("C:\\Users\\{}", w.user);
        let bytes = if macro_doc {
            let word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE";
            let doc = format!(
                "\"{word}\" /n \"{home}\\Downloads\\CongVan_{}.doc\"",
                rng.range(100, 999)
            );
            let cmd = format!("powershell.exe -nop -w hidden -enc {}", rng.hex(48));
            render::sysmon_process(
                at(day, t),
                rid,
                WinHost::Winlogbeat {
                    name: &w.name,
                    ip: w.ip,
                },
                &user,
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                &cmd,
                word,
                &doc,
                sha256,
            )
        } else {
            let exe = format!("{home}\\Downloads\\{}", rng.pick(&FAKE_UPDATES));
            render::sysmon_process(
                at(day, t),
                rid,
                WinHost::Winlogbeat {
                    name: &w.name,
                    ip: w.ip,
                },
                &user,
                &exe,
                &format!("\"{exe}\""),
                "C:\\Windows\\explorer.exe",
                "C:\\Windows\\Explorer.EXE",
                sha256,
            )
        };
        o.push(day, t, Stream::Windows, bytes);
    }
}
