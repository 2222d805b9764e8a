//! Windows events as JSON, in three layouts, each kept as-is in `original`:
//!
//! - `evtx_dump` (and [`super::EvtxReader`]): `{"Event":{"System":…,"EventData":…}}`.
//!   `EventData` holds named fields, or `{"Data":[…]}` when the provider names none, or is
//!   absent when the event has `UserData` (its single child holds the fields).
//! - NXLog `im_msvistalog` flat JSON: `EventID`, `Hostname`, `SourceName`, `Channel`,
//!   `EventTime`, and the event data fields at the top level.
//! - Winlogbeat: `winlog.event_id`, `winlog.computer_name` (else `host.name`),
//!   `winlog.event_data.*`, nested or dotted, and the agent's `host.ip` (one address or an
//!   array: the first IPv4, else the first address).
//!
//! ECS: `event.code` (EventID), `event.provider`, `event.outcome` (audit success/failure),
//! `log.level`, `host.name` (Computer), and from common event data names: `user.*`
//! (TargetUserName, SubjectUserName, User, AccountName…), `process.*` (Image/NewProcessName,
//! ProcessId, CommandLine, ParentImage), `file.*` (TargetFilename, ImageLoaded, Hashes),
//! `source.*`/`destination.*` (SourceIp, IpAddress, DestinationIp, ports), `dns.question.name`
//! (QueryName). Every user name, host name and IP mentioned goes to `related.*`.

use chrono::FixedOffset;
use serde_json::{Map, Value};

use canhgac_core::event::lookup_path;
use canhgac_core::wire::ecs as field;
use canhgac_core::{Dataset, Ecs};

use super::util::{
    self, basename, fill_hashes, json_ip, json_port, json_str, json_string, json_u64, small_get,
};
use super::{parse_object, DecodeError, Decoded, Decoder, DecoderOptions};
use crate::format::Format;

/// Decoder for Windows JSON (all three layouts).
pub struct WindowsDecoder {
    local_offset: FixedOffset,
}

impl WindowsDecoder {
    pub fn new(opts: &DecoderOptions) -> Self {
        WindowsDecoder {
            local_offset: opts.local_offset,
        }
    }
}

impl Decoder for WindowsDecoder {
    fn format(&self) -> Format {
        Format::Windows
    }

    fn decode(&mut self, record: &[u8]) -> Result<Option<Decoded>, DecodeError> {
        match parse_object(record)? {
            Some(v) => decode_value(v, self.local_offset).map(Some),
            None => Ok(None),
        }
    }
}

/// Decodes a parsed Windows event (any of the three layouts).
pub(crate) fn decode_value(
    original: Value,
    local_offset: FixedOffset,
) -> Result<Decoded, DecodeError> {
    let mut ecs = Ecs::default();
    let obj = original
        .as_object()
        .ok_or_else(|| DecodeError::malformed("expected a JSON object"))?;
    let timestamp = if let Some(event) = obj.get("Event").and_then(Value::as_object) {
        evtx_layout(event, &mut ecs)?
    } else if obj.contains_key("winlog") || obj.keys().any(|k| k.starts_with("winlog.")) {
        winlogbeat_layout(&original, &mut ecs, local_offset)
    } else if obj.contains_key("EventID") {
        nxlog_layout(obj, &mut ecs, local_offset)
    } else {
        return Err(DecodeError::malformed(
            "not a Windows event: no Event, winlog or EventID field",
        ));
    };
    ecs.fill_related();
    Ok(Decoded {
        dataset: Dataset::new(Dataset::WINDOWS),
        timestamp,
        ecs,
        original,
    })
}

type Ts = Option<chrono::DateTime<chrono::Utc>>;

fn evtx_layout(event: &Map<String, Value>, ecs: &mut Ecs) -> Result<Ts, DecodeError> {
    let (mut system, mut event_data, mut user_data) = (None, None, None);
    for (k, v) in event {
        match k.as_str() {
            "System" => system = v.as_object(),
            "EventData" => event_data = v.as_object(),
            // UserData has one child element (named after the event) that holds the fields.
            "UserData" => {
                user_data = v
                    .as_object()
                    .and_then(|u| u.values().find_map(Value::as_object))
            }
            _ => {}
        }
    }
    let system = system.ok_or_else(|| DecodeError::malformed("Event has no System element"))?;
    let mut timestamp = None;
    for (k, v) in system {
        match k.as_str() {
            "EventID" => {
                let id = match v {
                    Value::Object(_) => small_get(v, "#text").unwrap_or(v),
                    _ => v,
                };
                ecs.event_code = json_string(id);
            }
            "Computer" => ecs.host_name = json_str(v).map(str::to_string),
            "Provider" => {
                ecs.event_provider = small_get(v, "#attributes")
                    .and_then(|a| small_get(a, "Name"))
                    .and_then(json_str)
                    .map(str::to_string)
            }
            "Keywords" => ecs.event_outcome = v.as_str().and_then(outcome_from_keywords),
            "Level" => ecs.log_level = json_u64(v).and_then(level_name).map(str::to_string),
            "TimeCreated" => {
                timestamp = small_get(v, "#attributes")
                    .and_then(|a| small_get(a, "SystemTime"))
                    .and_then(Value::as_str)
                    // SystemTime is UTC by definition (evtx_dump writes it with `Z`).
                    .and_then(|s| util::parse_iso(s, util::utc()))
            }
            _ => {}
        }
    }
    let mut data = Data::new();
    for d in [event_data, user_data].into_iter().flatten() {
        data.absorb(d);
    }
    fill_from_data(ecs, |name| data.get(name));
    Ok(timestamp)
}

fn winlogbeat_layout(original: &Value, ecs: &mut Ecs, local_offset: FixedOffset) -> Ts {
    let get = |path: &str| lookup_path(original, path);
    ecs.event_code = get("winlog.event_id")
        .or_else(|| get(field::EVENT_CODE))
        .and_then(json_string);
    ecs.host_name = get("winlog.computer_name")
        .or_else(|| get(field::HOST_NAME))
        .and_then(json_str)
        .map(str::to_string);
    // The agent's own addresses: the first IPv4 (an array lists IPv6 and link-local too).
    ecs.host_ip = get(field::HOST_IP).and_then(agent_ip);
    ecs.event_provider = get("winlog.provider_name")
        .or_else(|| get(field::EVENT_PROVIDER))
        .and_then(json_str)
        .map(str::to_string);
    ecs.event_outcome = get(field::EVENT_OUTCOME)
        .and_then(json_str)
        .map(str::to_string)
        .or_else(|| {
            get("winlog.keywords")
                .and_then(Value::as_array)
                .and_then(|ks| {
                    ks.iter().filter_map(Value::as_str).find_map(|k| match k {
                        "Audit Success" => Some("success".to_string()),
                        "Audit Failure" => Some("failure".to_string()),
                        _ => None,
                    })
                })
        });
    ecs.log_level = get(field::LOG_LEVEL).and_then(json_str).map(str::to_string);
    let timestamp = get("@timestamp").and_then(|t| util::json_time(t, local_offset));
    let event_data = get("winlog.event_data").and_then(Value::as_object);
    let user_data = get("winlog.user_data").and_then(Value::as_object);
    let mut data = Data::new();
    for d in [event_data, user_data].into_iter().flatten() {
        data.absorb(d);
    }
    // Dotted keys at the top level: `winlog.event_data.TargetUserName`.
    for (k, v) in original.as_object().into_iter().flatten() {
        if let Some(name) = k.strip_prefix("winlog.event_data.") {
            data.put(name, v);
        }
    }
    fill_from_data(ecs, |name| data.get(name));
    timestamp
}

/// Winlogbeat's `host.ip`: one address, or the agent's addresses (the first IPv4, else the
/// first address).
fn agent_ip(v: &Value) -> Option<std::net::IpAddr> {
    match v {
        Value::Array(ips) => {
            let all = || ips.iter().filter_map(json_ip);
            all()
                .find(std::net::IpAddr::is_ipv4)
                .or_else(|| all().next())
        }
        other => json_ip(other),
    }
}

fn nxlog_layout(obj: &Map<String, Value>, ecs: &mut Ecs, local_offset: FixedOffset) -> Ts {
    ecs.event_code = obj.get("EventID").and_then(json_string);
    ecs.host_name = obj
        .get("Hostname")
        .or_else(|| obj.get("Computer"))
        .and_then(json_str)
        .map(str::to_string);
    ecs.event_provider = obj
        .get("ProviderName")
        .or_else(|| obj.get("SourceName"))
        .and_then(json_str)
        .map(str::to_string);
    ecs.event_outcome = obj
        .get("EventType")
        .and_then(Value::as_str)
        .and_then(|t| match t {
            "AUDIT_SUCCESS" => Some("success".to_string()),
            "AUDIT_FAILURE" => Some("failure".to_string()),
            _ => None,
        });
    ecs.log_level = obj
        .get("Severity")
        .and_then(json_str)
        .map(str::to_ascii_lowercase);
    ecs.message = obj.get("Message").and_then(json_str).map(str::to_string);
    let timestamp = obj
        .get("@timestamp")
        .and_then(|t| util::json_time(t, local_offset))
        .or_else(|| {
            obj.get("EventTime")
                .and_then(Value::as_str)
                .and_then(|s| util::parse_iso(s, local_offset))
        })
        .or_else(|| {
            obj.get("EventReceivedTime")
                .and_then(Value::as_str)
                .and_then(|s| util::parse_iso(s, local_offset))
        });
    let mut data = Data::new();
    data.absorb(obj);
    fill_from_data(ecs, |name| data.get(name));
    timestamp
}

/// Event data fields the ECS mapping reads, gathered in one pass over the event data (a
/// `match` on the name instead of one hashed lookup per candidate name).
const DATA_FIELDS: usize = 41;

fn slot(name: &str) -> Option<usize> {
    // Dispatch on the length first: a string `match` compares its arms one by one.
    let i = match name.len() {
        4 => match name {
            "Hash" => 11,
            "User" => 37,
            _ => return None,
        },
        5 => match name {
            "Image" => 13,
            _ => return None,
        },
        6 => match name {
            "Hashes" => 12,
            "IpPort" => 16,
            _ => return None,
        },
        8 => match name {
            "DestPort" => 6,
            "Protocol" => 24,
            "SourceIp" => 28,
            "UserName" => 38,
            _ => return None,
        },
        9 => match name {
            "IpAddress" => 15,
            "ProcessId" => 22,
            "QueryName" => 25,
            _ => return None,
        },
        10 => match name {
            "SourcePort" => 30,
            _ => return None,
        },
        11 => match name {
            "AccountName" => 1,
            "Application" => 2,
            "CommandLine" => 4,
            "DestAddress" => 5,
            "ImageLoaded" => 14,
            "ParentImage" => 19,
            "ProcessName" => 23,
            "Workstation" => 39,
            _ => return None,
        },
        12 => match name {
            "NewProcessId" => 17,
            _ => return None,
        },
        13 => match name {
            "AccountDomain" => 0,
            "ClientAddress" => 3,
            "DestinationIp" => 9,
            "SourceAddress" => 26,
            _ => return None,
        },
        14 => match name {
            "NewProcessName" => 18,
            "SourceHostname" => 27,
            "TargetFileName" => 34,
            "TargetFilename" => 35,
            "TargetUserName" => 36,
            _ => return None,
        },
        15 => match name {
            "DestinationPort" => 10,
            "SubjectUserName" => 32,
            "WorkstationName" => 40,
            _ => return None,
        },
        16 => match name {
            "TargetDomainName" => 33,
            _ => return None,
        },
        17 => match name {
            "ParentProcessName" => 20,
            "SubjectDomainName" => 31,
            _ => return None,
        },
        18 => match name {
            "DestinationAddress" => 7,
            "ProcessCommandLine" => 21,
            _ => return None,
        },
        19 => match name {
            "DestinationHostname" => 8,
            _ => return None,
        },
        20 => match name {
            "SourceNetworkAddress" => 29,
            _ => return None,
        },
        _ => return None,
    };
    Some(i)
}

struct Data<'a>([Option<&'a Value>; DATA_FIELDS]);

impl<'a> Data<'a> {
    fn new() -> Self {
        Data([None; DATA_FIELDS])
    }

    /// Takes the fields of `map` that are not set yet.
    fn absorb(&mut self, map: &'a Map<String, Value>) {
        for (k, v) in map {
            self.put(k, v);
        }
    }

    fn put(&mut self, name: &str, v: &'a Value) {
        if let Some(i) = slot(name) {
            self.0[i].get_or_insert(v);
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        slot(name).and_then(|i| self.0[i])
    }
}

fn outcome_from_keywords(k: &str) -> Option<String> {
    let v = util::parse_u64(k)?;
    if v & 0x0010_0000_0000_0000 != 0 {
        Some("failure".to_string())
    } else if v & 0x0020_0000_0000_0000 != 0 {
        Some("success".to_string())
    } else {
        None
    }
}

fn level_name(level: u64) -> Option<&'static str> {
    Some(match level {
        0 | 4 => "information",
        1 => "critical",
        2 => "error",
        3 => "warning",
        5 => "verbose",
        _ => return None,
    })
}

fn first<'a>(get: &impl Fn(&str) -> Option<&'a Value>, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| get(n).filter(|v| json_str(v).is_some() || v.is_number()))
}

fn first_str<'a>(get: &impl Fn(&str) -> Option<&'a Value>, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| get(n).and_then(json_str))
}

/// ECS fields from event data names shared by Security, Sysmon and other channels.
fn fill_from_data<'a>(ecs: &mut Ecs, get: impl Fn(&str) -> Option<&'a Value>) {
    // Users: the target of a logon or account change first, then the subject.
    const USERS: [(&str, &str); 5] = [
        ("TargetUserName", "TargetDomainName"),
        ("SubjectUserName", "SubjectDomainName"),
        ("User", ""),
        ("AccountName", "AccountDomain"),
        ("UserName", ""),
    ];
    for (name_key, domain_key) in USERS {
        let Some(raw) = get(name_key).and_then(json_str) else {
            continue;
        };
        let (user, domain) = util::split_domain_user(raw);
        ecs.related.add_user(user);
        if ecs.user_name.is_none() {
            ecs.user_name = Some(user.to_string());
            let domain = domain.or_else(|| get(domain_key).and_then(json_str));
            ecs.user_domain = domain.map(str::to_string);
        }
    }
    if let Some(exe) = first_str(
        &get,
        &["Image", "NewProcessName", "ProcessName", "Application"],
    ) {
        ecs.process_executable = Some(exe.to_string());
    }
    ecs.process_pid = first(&get, &["ProcessId", "NewProcessId"]).and_then(json_u64);
    ecs.process_command_line =
        first_str(&get, &["CommandLine", "ProcessCommandLine"]).map(str::to_string);
    ecs.process_parent_executable =
        first_str(&get, &["ParentImage", "ParentProcessName"]).map(str::to_string);
    if let Some(path) = first_str(&get, &["TargetFilename", "TargetFileName", "ImageLoaded"]) {
        ecs.file_name = Some(basename(path).to_string());
        ecs.file_path = Some(path.to_string());
    }
    for key in ["Hashes", "Hash"] {
        if let Some(h) = get(key).and_then(json_str) {
            fill_hashes(ecs, h);
        }
    }
    const SRC: [&str; 5] = [
        "SourceIp",
        "SourceAddress",
        "IpAddress",
        "ClientAddress",
        "SourceNetworkAddress",
    ];
    ecs.source_ip = SRC.iter().find_map(|k| get(k).and_then(json_ip));
    ecs.destination_ip = ["DestinationIp", "DestAddress", "DestinationAddress"]
        .iter()
        .find_map(|k| get(k).and_then(json_ip));
    if ecs.source_ip.is_some() {
        ecs.source_port = first(&get, &["SourcePort", "IpPort"])
            .and_then(json_port)
            .filter(|p| *p != 0);
    }
    ecs.destination_port = first(&get, &["DestinationPort", "DestPort"]).and_then(json_port);
    ecs.network_transport = get("Protocol").and_then(|p| match p {
        Value::String(s) if s.chars().all(|c| c.is_ascii_alphabetic()) && !s.is_empty() => {
            Some(s.to_ascii_lowercase())
        }
        other => match json_u64(other)? {
            6 => Some("tcp".to_string()),
            17 => Some("udp".to_string()),
            1 => Some("icmp".to_string()),
            _ => None,
        },
    });
    ecs.dns_question_name = get("QueryName").and_then(json_str).map(str::to_string);
    for key in [
        "DestinationHostname",
        "SourceHostname",
        "WorkstationName",
        "Workstation",
    ] {
        if let Some(h) = get(key).and_then(json_str) {
            ecs.related.add_host(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(v: Value) -> Decoded {
        decode_value(v, util::utc()).unwrap()
    }

    #[test]
    fn evtx_dump_sysmon_process_creation() {
        let d = decode(json!({"Event": {"System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1, "Level": 4, "Keywords": "0x8000000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2019-04-27T15:57:53.3688632Z"}},
            "Computer": "IEWIN7"},
          "EventData": {"Image": "C:\\Windows\\System32\\cmd.exe", "ProcessId": 3160,
            "CommandLine": "cmd /c whoami", "ParentImage": "C:\\Windows\\explorer.exe",
            "User": "IEWIN7\\IEUser",
            "Hashes": "SHA1=AA11AA11AA11AA11AA11AA11AA11AA11AA11AA11,MD5=0123456789ABCDEF0123456789ABCDEF,SHA256=4A5E1E4BAAB89F3A32518A88C31BC87F618F76673E2CC77AB2127B7AFDEDA33B"}}}));
        assert_eq!(d.ecs.event_code.as_deref(), Some("1"));
        assert_eq!(d.ecs.host_name.as_deref(), Some("IEWIN7"));
        assert_eq!(
            d.ecs.event_provider.as_deref(),
            Some("Microsoft-Windows-Sysmon")
        );
        assert_eq!(d.ecs.user_name.as_deref(), Some("IEUser"));
        assert_eq!(d.ecs.user_domain.as_deref(), Some("IEWIN7"));
        assert_eq!(d.ecs.process_pid, Some(3160));
        assert_eq!(d.ecs.process_command_line.as_deref(), Some("cmd /c whoami"));
        assert_eq!(d.ecs.file_hash_sha256.as_deref().map(str::len), Some(64));
        assert_eq!(
            d.timestamp.unwrap().to_rfc3339(),
            "2019-04-27T15:57:53.368863200+00:00"
        );
        assert_eq!(d.ecs.related.hosts, vec!["iewin7".to_string()]);
    }

    #[test]
    fn security_logon_failure_with_qualifiers_and_user_data() {
        let d = decode(json!({"Event": {"System": {
            "EventID": {"#attributes": {"Qualifiers": 0}, "#text": 4625},
            "Keywords": "0x8010000000000000", "Computer": "DC01"},
          "EventData": {"TargetUserName": "admin", "TargetDomainName": "CORP",
            "SubjectUserName": "-", "IpAddress": "10.0.0.5", "IpPort": "51234",
            "WorkstationName": "KALI", "ProcessId": "0x378"}}}));
        assert_eq!(d.ecs.event_code.as_deref(), Some("4625"));
        assert_eq!(d.ecs.event_outcome.as_deref(), Some("failure"));
        assert_eq!(d.ecs.user_name.as_deref(), Some("admin"));
        assert_eq!(d.ecs.user_domain.as_deref(), Some("CORP"));
        assert_eq!(d.ecs.source_ip, Some("10.0.0.5".parse().unwrap()));
        assert_eq!(d.ecs.source_port, Some(51234));
        assert_eq!(d.ecs.process_pid, Some(0x378));
        assert!(d.ecs.related.hosts.contains(&"kali".to_string()));

        let d = decode(
            json!({"Event": {"System": {"EventID": 1102, "Computer": "DC01"},
          "UserData": {"LogFileCleared": {"SubjectUserName": "bob", "SubjectDomainName": "CORP"}}}}),
        );
        assert_eq!(d.ecs.user_name.as_deref(), Some("bob"));
        assert_eq!(d.ecs.user_domain.as_deref(), Some("CORP"));
    }

    #[test]
    fn nxlog_and_winlogbeat() {
        let d = decode(
            json!({"EventTime": "2022-04-01 10:00:00", "Hostname": "WS1",
            "EventID": 4688, "SourceName": "Microsoft-Windows-Security-Auditing",
            "Channel": "Security", "EventType": "AUDIT_SUCCESS",
            "NewProcessName": "C:\\x.exe", "SubjectUserName": "alice"}),
        );
        assert_eq!(d.ecs.event_code.as_deref(), Some("4688"));
        assert_eq!(d.ecs.process_executable.as_deref(), Some("C:\\x.exe"));
        assert_eq!(d.ecs.event_outcome.as_deref(), Some("success"));
        assert_eq!(
            d.timestamp.unwrap().to_rfc3339(),
            "2022-04-01T10:00:00+00:00"
        );

        let d = decode(json!({"@timestamp": "2022-04-01T10:00:00Z",
            "winlog": {"event_id": 4624, "computer_name": "WS2", "provider_name": "X",
                       "event_data": {"TargetUserName": "bob", "IpAddress": "192.0.2.7"}}}));
        assert_eq!(d.ecs.user_name.as_deref(), Some("bob"));
        assert_eq!(d.ecs.host_name.as_deref(), Some("WS2"));
        assert_eq!(d.ecs.source_ip, Some("192.0.2.7".parse().unwrap()));
        assert_eq!(d.ecs.host_ip, None);
        let d =
            decode(json!({"winlog.event_id": "4624", "winlog.event_data.TargetUserName": "eve"}));
        assert_eq!(d.ecs.user_name.as_deref(), Some("eve"));
        assert_eq!(d.ecs.event_code.as_deref(), Some("4624"));
    }

    #[test]
    fn winlogbeat_agent_addresses() {
        // Winlogbeat 8 lists every address of the agent, IPv6 and link-local first.
        let d = decode(json!({"@timestamp": "2026-10-13T03:12:44.512Z",
            "winlog": {"event_id": 3, "computer_name": "moh-ws07.moh.local",
                       "provider_name": "Microsoft-Windows-Sysmon",
                       "channel": "Microsoft-Windows-Sysmon/Operational",
                       "event_data": {"Image": "C:\\Users\\lan\\AppData\\Roaming\\upd.exe",
                                      "DestinationIp": "203.0.113.50", "DestinationPort": 443}},
            "host": {"name": "moh-ws07", "hostname": "moh-ws07",
                     "ip": ["fe80::5d1c:2f0a:9e3b:11c4", "10.20.1.57"],
                     "mac": ["00-50-56-A1-2B-3C"]}}));
        assert_eq!(d.ecs.host_ip, Some("10.20.1.57".parse().unwrap()));
        assert_eq!(d.ecs.host_name.as_deref(), Some("moh-ws07.moh.local"));
        assert_eq!(d.ecs.destination_ip, Some("203.0.113.50".parse().unwrap()));
        assert!(d.ecs.related.ip.contains(&"10.20.1.57".parse().unwrap()));
        // Only IPv6: the first address; a single string; dotted keys; host.name stands in
        // for a missing computer_name.
        let d = decode(json!({"winlog": {"event_id": 1}, "host": {"name": "ws9",
            "ip": ["fe80::1", "2001:db8::7"]}}));
        assert_eq!(d.ecs.host_ip, Some("fe80::1".parse().unwrap()));
        assert_eq!(d.ecs.host_name.as_deref(), Some("ws9"));
        let d = decode(json!({"winlog.event_id": 1, "host.name": "ws3", "host.ip": "10.0.0.3"}));
        assert_eq!(d.ecs.host_ip, Some("10.0.0.3".parse().unwrap()));
        assert_eq!(d.ecs.host_name.as_deref(), Some("ws3"));
        // Not an address: no host.ip, the event still decodes.
        let d = decode(json!({"winlog": {"event_id": 1}, "host": {"ip": ["n/a", 7]}}));
        assert_eq!(d.ecs.host_ip, None);
    }

    #[test]
    fn not_windows() {
        let e = decode_value(json!({"a": 1}), util::utc()).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::Malformed);
    }
}
