//! The streaming generator: benign background per agency and day, plus the records of the
//! attacks planned for that day, sorted by time. One day is held in memory at a time.

use chrono::{Datelike, NaiveDate, Weekday};

use canhgac_core::detection::vietnam;

use crate::model::Agency;
use crate::plan::{at, public_ip};
use crate::render::{self, Attachment, WinHost};
use crate::rng::Rng;
use crate::{SimRecord, Simulator, Stream};

/// Iterator over every record of a simulation, in time order.
pub struct Records<'a> {
    sim: &'a Simulator,
    days: Vec<NaiveDate>,
    next_day: usize,
    buf: std::vec::IntoIter<SimRecord>,
}

impl<'a> Records<'a> {
    pub(crate) fn new(sim: &'a Simulator) -> Self {
        Records {
            sim,
            days: sim.days().collect(),
            next_day: 0,
            buf: Vec::new().into_iter(),
        }
    }
}

impl Iterator for Records<'_> {
    type Item = SimRecord;

    fn next(&mut self) -> Option<SimRecord> {
        loop {
            if let Some(r) = self.buf.next() {
                return Some(r);
            }
            let day = *self.days.get(self.next_day)?;
            self.next_day += 1;
            self.buf = day_records(self.sim, day).into_iter();
        }
    }
}

/// Every record of one day (UTC+7), sorted by time.
pub fn day_records(sim: &Simulator, day: NaiveDate) -> Vec<SimRecord> {
    let mut out = Vec::new();
    for (ai, agency) in sim.agencies.iter().enumerate() {
        background(sim, agency, day, &mut out);
        for a in sim
            .attacks
            .iter()
            .filter(|a| a.agency == ai && a.first_day <= day && day <= a.last_day())
        {
            // An attack spans days: this day's share of its records.
            out.extend(
                a.records(agency, sim.cfg.seed)
                    .into_iter()
                    .filter(|r| r.time.with_timezone(&vietnam()).date_naive() == day),
            );
        }
    }
    // Stable: ties keep agency and generation order.
    out.sort_by_key(|r| r.time);
    out
}

const UAS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
];
const DOMAINS: [&str; 12] = [
    "www.google.com",
    "update.microsoft.com",
    "login.microsoftonline.com",
    "zalo.me",
    "vnexpress.net",
    "dantri.com.vn",
    "chinhphu.vn",
    "dichvucong.gov.vn",
    "thuvienphapluat.vn",
    "ocsp.digicert.com",
    "www.youtube.com",
    "vanban.chinhphu.vn",
];
const SUBJECTS: [&str; 6] = [
    "Giấy mời họp giao ban tuần",
    "Báo cáo tình hình thực hiện nhiệm vụ tháng",
    "V/v triển khai văn bản số 123/CV-CNTT",
    "Lịch công tác tuần của lãnh đạo",
    "Góp ý dự thảo quy chế làm việc",
    "Kế hoạch ứng cứu sự cố an toàn thông tin",
];
const PROGRAMS: [(&str, &str, &str); 8] = [
    ("C:\\Windows\\explorer.exe", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\""),
    ("C:\\Windows\\explorer.exe", "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE\" /n \"{home}\\Documents\\BaoCao.docx\""),
    ("C:\\Windows\\explorer.exe", "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE\" \"{home}\\Documents\\KeHoach.xlsx\""),
    ("C:\\Windows\\explorer.exe", "C:\\Windows\\System32\\notepad.exe", "\"C:\\Windows\\System32\\notepad.exe\" {home}\\Desktop\\ghichu.txt"),
    ("C:\\Windows\\explorer.exe", "{home}\\AppData\\Local\\Programs\\Zalo\\Zalo.exe", "\"{home}\\AppData\\Local\\Programs\\Zalo\\Zalo.exe\""),
    ("C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\System32\\taskhostw.exe", "taskhostw.exe"),
    ("C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", "C:\\Windows\\splwow64.exe", "C:\\Windows\\splwow64.exe 12288"),
    ("C:\\Windows\\System32\\userinit.exe", "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE"),
];

/// A local time of day: mostly office hours.
fn time_of_day(rng: &mut Rng) -> u32 {
    if rng.chance(0.75) {
        rng.range(7 * 3600 + 1800, 17 * 3600 + 1800) as u32
    } else {
        rng.below(86_400) as u32
    }
}

fn background(sim: &Simulator, agency: &Agency, day: NaiveDate, out: &mut Vec<SimRecord>) {
    let mut rng = Rng::derive(
        sim.cfg.seed,
        &[b"day", agency.id.as_bytes(), day.to_string().as_bytes()],
    );
    let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
    let n = if weekend {
        sim.cfg.events_per_day / 3
    } else {
        sim.cfg.events_per_day
    };
    let day_no = (day - NaiveDate::from_ymd_opt(2000, 1, 1).expect("date")).num_days() as u64;
    for i in 0..n as u64 {
        let secs = time_of_day(&mut rng);
        let time = at(day, secs);
        let rid = day_no * 100_000 + i;
        let w = rng.pick(&agency.workstations).clone();
        let near = rng.chance(NEAR_MISSES);
        let roll = rng.below(100);
        let (stream, bytes) = if near {
            near_miss(&mut rng, agency, &w, time, rid)
        } else if roll < 45 {
            let Some(p) = &agency.portal else { continue };
            let client = if rng.chance(0.1) {
                std::net::Ipv4Addr::new(66, 249, 66, rng.range(1, 200) as u8)
            } else {
                public_ip(&mut rng)
            };
            let (method, target, status) = match rng.below(10) {
                0 => ("GET", "/".to_string(), 200),
                1 => (
                    "GET",
                    format!("/tin-tuc/hoat-dong-{}.html", rng.range(1000, 9999)),
                    200,
                ),
                2 => (
                    "GET",
                    format!("/van-ban/{}.pdf", rng.range(100, 999)),
                    *rng.pick(&[200u16, 200, 304, 404]),
                ),
                3 => (
                    "GET",
                    "/static/css/main.css".to_string(),
                    *rng.pick(&[200u16, 304]),
                ),
                4 => (
                    "GET",
                    "/static/js/app.js".to_string(),
                    *rng.pick(&[200u16, 304]),
                ),
                5 => ("GET", format!("/images/banner{}.jpg", rng.range(1, 9)), 200),
                6 => (
                    "GET",
                    format!("/thu-tuc-hanh-chinh?page={}", rng.range(1, 30)),
                    200,
                ),
                7 => ("POST", "/dich-vu-cong/tra-cuu-ho-so".to_string(), 200),
                8 => ("GET", "/favicon.ico".to_string(), 200),
                _ => ("GET", "/lien-he".to_string(), 200),
            };
            let referer = if rng.chance(0.5) {
                format!("https://{}/", p.domain)
            } else {
                "-".into()
            };
            (
                Stream::Web,
                render::web_access(
                    time,
                    &p.domain,
                    client,
                    method,
                    &target,
                    status,
                    rng.range(200, 90_000),
                    &referer,
                    rng.pick::<&str>(&UAS),
                ),
            )
        } else if roll < 70 {
            let query = if rng.chance(0.2) {
                rng.pick(&agency.domains).clone()
            } else {
                rng.pick(&DOMAINS).to_string()
            };
            let uid = format!("C{}", rng.hex(17));
            let answer = public_ip(&mut rng);
            (
                Stream::ZeekDns,
                render::zeek_dns(
                    time,
                    &uid,
                    w.ip,
                    rng.range(49152, 65535) as u16,
                    agency.dns_server,
                    &query,
                    &[answer],
                ),
            )
        } else if roll < 80 {
            let domain = agency
                .domain
                .split('.')
                .next()
                .unwrap_or("AD")
                .to_ascii_uppercase();
            let (ty, ip) = if rng.chance(0.9) {
                (3, w.ip)
            } else {
                (10, w.ip)
            };
            (
                Stream::Windows,
                render::security_logon(
                    time,
                    rid,
                    &agency.dc_host,
                    &w.user,
                    &domain,
                    ty,
                    ip,
                    &w.name,
                ),
            )
        } else if roll < 90 {
            let (parent, image, cmd) = rng.pick(&PROGRAMS);
            let home = format!("C:\\Users\\{}", w.user);
            let user = format!(
                "{}\\{}",
                agency
                    .domain
                    .split('.')
                    .next()
                    .unwrap_or("AD")
                    .to_ascii_uppercase(),
                w.user
            );
            let (parent, image, cmd) = (
                parent.replace("{home}", &home),
                image.replace("{home}", &home),
                cmd.replace("{home}", &home),
            );
            let parent_cmd = format!("\"{parent}\"");
            (
                Stream::Windows,
                render::sysmon_process(
                    time,
                    rid,
                    WinHost::Winlogbeat {
                        name: &w.name,
                        ip: w.ip,
                    },
                    &user,
                    &image,
                    &cmd,
                    &parent,
                    &parent_cmd,
                    &rng.hex(64),
                ),
            )
        } else if roll < 95 {
            let other = rng.pick(&agency.workstations);
            let from = format!("{}@{}", other.user, agency.domain);
            let to = format!("{}@{}", w.user, agency.domain);
            let subject = *rng.pick(&SUBJECTS);
            let body = format!(
                "Kính gửi anh/chị,\r\n\r\nXin gửi nội dung \"{subject}\". Chi tiết xem tại https://{}/van-ban/{}.\r\n\r\nTrân trọng.\r\n",
                agency.domain,
                rng.range(1000, 9999)
            );
            let pdf = b"%PDF-1.4\n% simulated\n";
            let att = rng.chance(0.4).then_some(Attachment {
                name: "VanBan.pdf",
                content_type: "application/pdf",
                content: pdf,
            });
            let mid = format!("{}@{}", rng.hex(16), agency.domain);
            (
                Stream::Mail,
                render::eml(
                    time,
                    &mid,
                    &other.user,
                    &from,
                    &to,
                    subject,
                    &body,
                    &agency.mail_host,
                    std::net::Ipv4Addr::new(10, 0, 0, 25),
                    att,
                ),
            )
        } else if roll < 98 {
            let (sig, sid, cat) = *rng.pick(&[
                (
                    "ET INFO Session Traversal Utilities for NAT (STUN Binding Request)",
                    2016149u32,
                    "Attempted User Privilege Gain",
                ),
                (
                    "ET POLICY curl User-Agent Outbound",
                    2013028,
                    "Attempted Information Leak",
                ),
                (
                    "ET INFO Observed DNS Query to .cloud TLD",
                    2027865,
                    "Potentially Bad Traffic",
                ),
            ]);
            (
                Stream::Suricata,
                render::suricata_alert(
                    time,
                    rng.next_u64() >> 12,
                    w.ip,
                    rng.range(49152, 65535) as u16,
                    public_ip(&mut rng),
                    443,
                    sid,
                    sig,
                    cat,
                    3,
                    None,
                ),
            )
        } else {
            let host = agency
                .portal
                .as_ref()
                .map_or(agency.mail_host.as_str(), |p| p.hosts[0].as_str());
            let msg = if rng.chance(0.5) {
                format!(
                    "Accepted publickey for quantri from {} port {} ssh2: RSA SHA256:{}",
                    w.ip,
                    rng.range(40000, 65000),
                    rng.hex(43)
                )
            } else {
                "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)".to_string()
            };
            let app = if msg.starts_with("Accepted") {
                "sshd"
            } else {
                "CRON"
            };
            (
                Stream::Syslog,
                render::syslog(time, host, app, rng.range(1000, 60000) as u32, &msg),
            )
        };
        out.push(SimRecord {
            agency: agency.id.clone(),
            stream,
            time,
            bytes,
            truth_id: None,
        });
    }
}

/// Share of the background that resembles an attack without being one.
pub const NEAR_MISSES: f64 = 0.04;

const POPULAR: [&str; 10] = [
    "accounts.google.com",
    "outlook.office365.com",
    "login.live.com",
    "github.com",
    "cdn.jsdelivr.net",
    "fonts.googleapis.com",
    "api.zalo.me",
    "xacthuc.dichvucong.gov.vn",
    "vneid.gov.vn",
    "teams.microsoft.com",
];

/// A benign record that resembles an attack: an administrator's PowerShell, a genuine upload
/// to the portal, mail about passwords from the agency's own IT staff or a genuine service,
/// DNS to popular and genuine login domains, an IDS policy alert.
fn near_miss(
    rng: &mut Rng,
    agency: &Agency,
    w: &crate::model::Workstation,
    time: chrono::DateTime<chrono::Utc>,
    rid: u64,
) -> (Stream, Vec<u8>) {
    let dom = agency
        .domain
        .split('.')
        .next()
        .unwrap_or("AD")
        .to_ascii_uppercase();
    let ps = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
    match rng.below(7) {
        0 => {
            let script = rng.pick(&["Backup-GPO.ps1", "Rotate-Logs.ps1", "Sync-Users.ps1"]);
            (
                Stream::Windows,
                render::sysmon_process(
                    time,
                    rid,
                    WinHost::Evtx(&agency.dc_host),
                    &format!("{dom}\\quantri"),
                    ps,
                    &format!("powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\Scripts\\{script}"),
                    "C:\\Windows\\System32\\svchost.exe",
                    "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
                    &rng.hex(64),
                ),
            )
        }
        1 => {
            let cmd = rng.pick(&[
                "powershell.exe Get-Service | Where-Object Status -eq Running",
                "powershell.exe Get-EventLog -LogName System -Newest 50",
                "powershell.exe Test-NetConnection -ComputerName mail01 -Port 25",
            ]);
            (
                Stream::Windows,
                render::sysmon_process(
                    time,
                    rid,
                    WinHost::Winlogbeat {
                        name: &w.name,
                        ip: w.ip,
                    },
                    &format!("{dom}\\quantri"),
                    ps,
                    cmd,
                    "C:\\Windows\\explorer.exe",
                    "C:\\Windows\\Explorer.EXE",
                    &rng.hex(64),
                ),
            )
        }
        2 if agency.portal.is_some() => {
            let p = agency.portal.as_ref().expect("checked");
            let name = format!("anh-hoat-dong-{}.jpg", rng.range(100, 9999));
            if rng.chance(0.5) {
                (
                    Stream::Web,
                    render::web_access(
                        time,
                        &p.domain,
                        public_ip(rng),
                        "POST",
                        &format!("/upload.php?type=image&name={name}"),
                        200,
                        87,
                        &format!("https://{}/admin/bai-viet", p.domain),
                        UAS[0],
                    ),
                )
            } else {
                (
                    Stream::Windows,
                    render::sysmon_file_created(
                        time,
                        rid,
                        WinHost::Evtx(&p.hosts[0]),
                        "C:\\xampp\\apache\\bin\\httpd.exe",
                        &format!("C:\\xampp\\htdocs\\uploads\\{name}"),
                    ),
                )
            }
        }
        3 => {
            let (from, subject, link, att) = if rng.chance(0.5) {
                (
                    format!("cntt@{}", agency.domain),
                    "Thông báo: lịch đổi mật khẩu thư công vụ định kỳ",
                    format!("https://mail.{}/doi-mat-khau", agency.domain),
                    "HuongDan_DoiMatKhau.pdf",
                )
            } else {
                (
                    "no-reply@dichvucong.gov.vn".to_string(),
                    "Xác nhận tiếp nhận hồ sơ trực tuyến",
                    "https://dichvucong.gov.vn/p/home/dvc-tra-cuu-ho-so.html".to_string(),
                    "BienNhan.pdf",
                )
            };
            let to = format!("{}@{}", w.user, agency.domain);
            let body = format!(
                "Kính gửi anh/chị,\r\n\r\nVui lòng xem hướng dẫn tại {link}. Không cung cấp mật khẩu qua thư.\r\n\r\nTrân trọng.\r\n"
            );
            let pdf = b"%PDF-1.4\n% simulated\n";
            let mid = format!("{}@{}", rng.hex(16), agency.domain);
            (
                Stream::Mail,
                render::eml(
                    time,
                    &mid,
                    "Phòng Công nghệ thông tin",
                    &from,
                    &to,
                    subject,
                    &body,
                    &agency.mail_host,
                    std::net::Ipv4Addr::new(10, 0, 0, 25),
                    Some(Attachment {
                        name: att,
                        content_type: "application/pdf",
                        content: pdf,
                    }),
                ),
            )
        }
        4 => (
            Stream::Suricata,
            render::suricata_alert(
                time,
                rng.next_u64() >> 12,
                w.ip,
                rng.range(49152, 65535) as u16,
                public_ip(rng),
                80,
                2018959,
                "ET POLICY PE EXE or DLL Windows file download HTTP",
                "Potential Corporate Privacy Violation",
                2,
                Some("download.microsoft.com"),
            ),
        ),
        _ => {
            let query = if rng.chance(0.3) {
                format!("dang-nhap.{}", agency.domain)
            } else {
                rng.pick(&POPULAR).to_string()
            };
            let uid = format!("C{}", rng.hex(17));
            (
                Stream::ZeekDns,
                render::zeek_dns(
                    time,
                    &uid,
                    w.ip,
                    rng.range(49152, 65535) as u16,
                    agency.dns_server,
                    &query,
                    &[public_ip(rng)],
                ),
            )
        }
    }
}
