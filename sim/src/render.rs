//! Raw records in the formats sensors read. Each function returns one record's bytes, without
//! a line terminator.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde_json::json;

use canhgac_core::detection::vietnam;

/// An Apache `vhost_combined` log line of the portal's HTTPS virtual host `vhost`: the
/// combined line after `%v:%p` (time in UTC+7, as the servers log it).
#[allow(clippy::too_many_arguments)]
pub fn web_access(
    time: DateTime<Utc>,
    vhost: &str,
    client: Ipv4Addr,
    method: &str,
    target: &str,
    status: u16,
    bytes: u64,
    referer: &str,
    agent: &str,
) -> Vec<u8> {
    let t = time
        .with_timezone(&vietnam())
        .format("%d/%b/%Y:%H:%M:%S %z");
    format!("{vhost}:443 {client} - - [{t}] \"{method} {target} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{agent}\"")
        .into_bytes()
}

/// A Windows host and how its events reach the collector.
#[derive(Debug, Clone, Copy)]
pub enum WinHost<'a> {
    /// A server whose exported `.evtx` files are read by `evtx_dump` (the name is `Computer`).
    Evtx(&'a str),
    /// A workstation running Winlogbeat, which sends each event with the agent's host name and
    /// addresses (`host.ip`).
    Winlogbeat { name: &'a str, ip: Ipv4Addr },
}

fn system_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Sysmon's provider and channel.
const SYSMON: (&str, &str) = (
    "Microsoft-Windows-Sysmon",
    "Microsoft-Windows-Sysmon/Operational",
);

/// One event in the layout its host ships: `task` is the event's task name (Winlogbeat
/// writes it; the evtx layout has the task number).
#[allow(clippy::too_many_arguments)]
fn windows_event(
    time: DateTime<Utc>,
    (provider, channel): (&str, &str),
    event_id: u32,
    task: &str,
    record_id: u64,
    host: WinHost<'_>,
    data: serde_json::Value,
) -> Vec<u8> {
    let v = match host {
        WinHost::Evtx(computer) => json!({"Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": provider}},
                "EventID": event_id,
                "Version": 5,
                "Level": 4,
                "Task": 1,
                "Opcode": 0,
                "Keywords": "0x8000000000000000",
                "TimeCreated": {"#attributes": {"SystemTime": system_time(time)}},
                "EventRecordID": record_id,
                "Correlation": null,
                "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 96}},
                "Channel": channel,
                "Computer": computer,
                "Security": {"#attributes": {"UserID": "S-1-5-18"}}
            },
            "EventData": data
        }}),
        WinHost::Winlogbeat { name, ip } => winlogbeat(
            time,
            (provider, channel),
            event_id,
            task,
            record_id,
            (name, ip),
            data,
        ),
    };
    serde_json::to_vec(&v).expect("json")
}

/// Winlogbeat 8's JSON: `winlog.*` with the event data as strings, the agent's `host.*`
/// (its addresses: an IPv6 link-local one first, as Windows lists them, then the IPv4).
fn winlogbeat(
    time: DateTime<Utc>,
    (provider, channel): (&str, &str),
    event_id: u32,
    task: &str,
    record_id: u64,
    (computer, ip): (&str, Ipv4Addr),
    data: serde_json::Value,
) -> serde_json::Value {
    let [a, b, c, d] = ip.octets();
    let hostname = computer.to_ascii_lowercase();
    let event_data: serde_json::Map<String, serde_json::Value> = data
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), serde_json::Value::String(s))
        })
        .collect();
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    json!({
        "@timestamp": stamp(time),
        "event": {
            "code": event_id.to_string(),
            "kind": "event",
            "provider": provider,
            "action": task,
            "created": stamp(time + chrono::Duration::milliseconds(850)),
        },
        "log": {"level": "information"},
        "winlog": {
            "api": "wineventlog",
            "channel": channel,
            "computer_name": computer,
            "event_id": event_id.to_string(),
            "provider_name": provider,
            "provider_guid": if provider == SYSMON.0 {
                "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"
            } else {
                "{54849625-5478-4994-a5ba-3e3b0328c30d}"
            },
            "record_id": record_id,
            "task": task,
            "opcode": "Info",
            "version": 5,
            "process": {"pid": 3104, "thread": {"id": 4224}},
            "user": {"identifier": "S-1-5-18", "domain": "NT AUTHORITY", "name": "SYSTEM", "type": "User"},
            "event_data": event_data,
        },
        "host": {
            "name": hostname,
            "hostname": hostname,
            "architecture": "x86_64",
            "os": {"family": "windows", "name": "Windows 10 Pro", "kernel": "10.0.19041.4522 (WinBuild.160101.0800)",
                   "build": "19045.4529", "platform": "windows", "type": "windows", "version": "10.0"},
            "ip": [format!("fe80::{:x}:{:x}", u16::from_be_bytes([a ^ 0x5d, b]), u16::from_be_bytes([c, d])), ip.to_string()],
            "mac": [format!("00-50-56-{c:02X}-{d:02X}-{:02X}", a ^ b)],
        },
        "agent": {"type": "winlogbeat", "version": "8.15.3", "name": hostname,
                  "id": format!("6f0c1e52-{a:02x}{b:02x}-4c3e-9d1a-0000{c:02x}{d:02x}0000"),
                  "ephemeral_id": "b8f2d7a4-1c63-4f0e-8a55-2e9c4d7b3f10"},
        "ecs": {"version": "8.0.0"},
    })
}

/// A Sysmon process creation (event 1).
#[allow(clippy::too_many_arguments)]
pub fn sysmon_process(
    time: DateTime<Utc>,
    record_id: u64,
    host: WinHost<'_>,
    user: &str,
    image: &str,
    command_line: &str,
    parent_image: &str,
    parent_command_line: &str,
    sha256: &str,
) -> Vec<u8> {
    let dir = image.rsplit_once('\\').map_or("C:\\", |(d, _)| d);
    windows_event(
        time,
        SYSMON,
        1,
        "Process Create (rule: ProcessCreate)",
        record_id,
        host,
        json!({
            "RuleName": "-",
            "UtcTime": time.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            "ProcessGuid": format!("{{5770385f-{:04x}-{:04x}-0000-001000000000}}", record_id & 0xffff, (record_id >> 16) & 0xffff),
            "ProcessId": 1000 + record_id % 60000,
            "Image": image,
            "FileVersion": "-",
            "Description": "-",
            "CommandLine": command_line,
            "CurrentDirectory": format!("{dir}\\"),
            "User": user,
            "LogonId": "0x3e7",
            "TerminalSessionId": 1,
            "IntegrityLevel": "Medium",
            "Hashes": format!("SHA256={}", sha256.to_ascii_uppercase()),
            "ParentImage": parent_image,
            "ParentCommandLine": parent_command_line,
        }),
    )
}

/// A Sysmon file creation (event 11).
pub fn sysmon_file_created(
    time: DateTime<Utc>,
    record_id: u64,
    host: WinHost<'_>,
    image: &str,
    target: &str,
) -> Vec<u8> {
    windows_event(
        time,
        SYSMON,
        11,
        "File created (rule: FileCreate)",
        record_id,
        host,
        json!({
            "RuleName": "-",
            "UtcTime": time.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            "ProcessGuid": "{5770385f-0000-0000-0000-001000000000}",
            "ProcessId": 2044,
            "Image": image,
            "TargetFilename": target,
            "CreationUtcTime": time.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        }),
    )
}

/// A Security 4624 (successful logon) on a domain controller, as `evtx_dump` writes it.
#[allow(clippy::too_many_arguments)]
pub fn security_logon(
    time: DateTime<Utc>,
    record_id: u64,
    computer: &str,
    user: &str,
    domain: &str,
    logon_type: u32,
    ip: Ipv4Addr,
    workstation: &str,
) -> Vec<u8> {
    windows_event(
        time,
        ("Microsoft-Windows-Security-Auditing", "Security"),
        4624,
        "Logon",
        record_id,
        WinHost::Evtx(computer),
        json!({
            "SubjectUserSid": "S-1-0-0",
            "SubjectUserName": "-",
            "SubjectDomainName": "-",
            "SubjectLogonId": "0x0",
            "TargetUserSid": format!("S-1-5-21-3623811015-3361044348-30300820-{}", 1100 + record_id % 500),
            "TargetUserName": user,
            "TargetDomainName": domain,
            "TargetLogonId": format!("0x{:x}", 0x3e7000 + record_id % 0xffff),
            "LogonType": logon_type,
            "LogonProcessName": "Kerberos",
            "AuthenticationPackageName": "Kerberos",
            "WorkstationName": workstation,
            "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
            "KeyLength": 0,
            "ProcessId": "0x0",
            "ProcessName": "-",
            "IpAddress": ip.to_string(),
            "IpPort": "0",
        }),
    )
}

/// A Suricata EVE alert.
#[allow(clippy::too_many_arguments)]
pub fn suricata_alert(
    time: DateTime<Utc>,
    flow_id: u64,
    src: Ipv4Addr,
    src_port: u16,
    dst: Ipv4Addr,
    dst_port: u16,
    signature_id: u32,
    signature: &str,
    category: &str,
    severity: u8,
    hostname: Option<&str>,
) -> Vec<u8> {
    let mut v = json!({
        "timestamp": time.with_timezone(&vietnam()).format("%Y-%m-%dT%H:%M:%S%.6f%z").to_string(),
        "flow_id": flow_id,
        "in_iface": "eth1",
        "event_type": "alert",
        "src_ip": src.to_string(),
        "src_port": src_port,
        "dest_ip": dst.to_string(),
        "dest_port": dst_port,
        "proto": "TCP",
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": signature_id,
            "rev": 3,
            "signature": signature,
            "category": category,
            "severity": severity
        },
        "flow": {"pkts_toserver": 4, "pkts_toclient": 3, "bytes_toserver": 517, "bytes_toclient": 412,
                 "start": time.with_timezone(&vietnam()).format("%Y-%m-%dT%H:%M:%S%.6f%z").to_string()}
    });
    if let Some(h) = hostname {
        v["app_proto"] = json!("http");
        v["http"] = json!({"hostname": h, "url": "/", "http_method": "GET", "protocol": "HTTP/1.1", "status": 200, "length": 0});
    }
    serde_json::to_vec(&v).expect("json")
}

/// A Zeek `dns.log` record as JSON (dotted keys, epoch seconds).
pub fn zeek_dns(
    time: DateTime<Utc>,
    uid: &str,
    client: Ipv4Addr,
    port: u16,
    server: Ipv4Addr,
    query: &str,
    answers: &[Ipv4Addr],
) -> Vec<u8> {
    let answered = !answers.is_empty();
    let v = json!({
        "_path": "dns",
        "ts": time.timestamp_micros() as f64 / 1e6,
        "uid": uid,
        "id.orig_h": client.to_string(),
        "id.orig_p": port,
        "id.resp_h": server.to_string(),
        "id.resp_p": 53,
        "proto": "udp",
        "trans_id": port as u32 ^ 0x5a5a,
        "rtt": 0.0123,
        "query": query,
        "qclass": 1,
        "qclass_name": "C_INTERNET",
        "qtype": 1,
        "qtype_name": "A",
        "rcode": if answered { 0 } else { 3 },
        "rcode_name": if answered { "NOERROR" } else { "NXDOMAIN" },
        "AA": false, "TC": false, "RD": true, "RA": true, "Z": 0,
        "answers": answers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "TTLs": answers.iter().map(|_| 300.0).collect::<Vec<_>>(),
        "rejected": false
    });
    serde_json::to_vec(&v).expect("json")
}

/// An RFC 5424 syslog line (facility authpriv, severity info).
pub fn syslog(time: DateTime<Utc>, host: &str, app: &str, pid: u32, message: &str) -> Vec<u8> {
    let t = time
        .with_timezone(&vietnam())
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z");
    format!("<86>1 {t} {host} {app} {pid} - - {message}").into_bytes()
}

/// A mail attachment.
pub struct Attachment<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub content: &'a [u8],
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RFC 2047 encoded word for a header holding non-ASCII text.
fn encoded_word(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64(s.as_bytes()))
    }
}

/// A whole `.eml` message (CRLF line ends), received by `mx` from `relay_ip`.
#[allow(clippy::too_many_arguments)]
pub fn eml(
    time: DateTime<Utc>,
    message_id: &str,
    from_name: &str,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    mx: &str,
    relay_ip: Ipv4Addr,
    attachment: Option<Attachment<'_>>,
) -> Vec<u8> {
    let date = time.with_timezone(&vietnam()).to_rfc2822();
    let from_domain = from.rsplit_once('@').map_or(from, |(_, d)| d);
    let mut m = String::new();
    m.push_str(&format!(
        "Received: from mail.{from_domain} (mail.{from_domain} [{relay_ip}]) by {mx} with ESMTPS; {date}\r\n"
    ));
    m.push_str(&format!(
        "From: \"{}\" <{from}>\r\n",
        encoded_word(from_name)
    ));
    m.push_str(&format!("To: <{to}>\r\n"));
    m.push_str(&format!("Subject: {}\r\n", encoded_word(subject)));
    m.push_str(&format!(
        "Date: {date}\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n"
    ));
    let body64 = base64(body.as_bytes());
    match attachment {
        None => {
            m.push_str("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
            m.push_str(&body64);
            m.push_str("\r\n");
        }
        Some(a) => {
            m.push_str("Content-Type: multipart/mixed; boundary=\"sim-b1\"\r\n\r\n--sim-b1\r\n");
            m.push_str("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
            m.push_str(&body64);
            m.push_str(&format!(
                "\r\n--sim-b1\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; filename=\"{}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--sim-b1--\r\n",
                a.content_type,
                a.name,
                a.name,
                base64(a.content)
            ));
        }
    }
    m.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
