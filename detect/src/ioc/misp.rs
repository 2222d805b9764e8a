//! MISP events as JSON (`Event.Attribute[]` and `Event.Object[].Attribute[]`) and MISP CSV
//! exports.
//!
//! Attribute types loaded: `ip-src`, `ip-dst` (an address or a CIDR), `ip-src|port`,
//! `ip-dst|port`, `domain`, `hostname`, `domain|ip` (both halves), `url`, `uri` (a path),
//! `md5`, `sha1`, `sha256`, `filename|md5`, `filename|sha1`, `filename|sha256` (the hash),
//! `email-src` and `email`. Every other type (`link`, `text`, `filename`, `btc`, `regkey`, …)
//! is counted as not matchable, by type.
//!
//! `to_ids` is honoured: by default only attributes with `to_ids` set are loaded, as MISP
//! intends (the others are context, not detection material); a definition may set
//! `require_to_ids: false` to load them too, and then attributes of category
//! `External analysis` (references to reports) are still left out. Deleted attributes are
//! skipped. The campaign (family) of an attribute is its event's `info`.

use std::path::Path;

use serde_json::Value;

use super::collect::Collector;
use super::error::IocError;
use super::indicator::{self, IndicatorKind, Key};
use super::parse::csv_records;

/// One attribute, whatever the source format.
pub(crate) struct Attribute<'a> {
    pub ty: &'a str,
    pub value: &'a str,
    pub to_ids: bool,
    pub category: &'a str,
    pub deleted: bool,
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(s.as_str(), "1" | "true" | "True" | "TRUE"),
        _ => false,
    }
}

fn truthy_str(s: &str) -> bool {
    matches!(s.trim(), "1" | "true" | "True" | "TRUE")
}

fn hash_of(ty: &str, v: &str) -> Result<Key, String> {
    let want = match ty {
        "md5" => IndicatorKind::Md5,
        "sha1" => IndicatorKind::Sha1,
        _ => IndicatorKind::Sha256,
    };
    let v = v.trim();
    match indicator::hash_kind(v) {
        Some(k) if k == want => Ok(Key::Hash(k, v.to_ascii_lowercase())),
        _ => Err(format!("{v:?} is not a {ty} hash")),
    }
}

fn ip_or_cidr(v: &str) -> Result<Key, String> {
    match indicator::classify(v) {
        Ok(k @ (Key::Ip(_) | Key::Cidr(_))) => Ok(k),
        _ => Err(format!("{v:?} is not an IP address or CIDR")),
    }
}

/// The keys an attribute yields, `Ok(None)` when its type is not matchable.
fn keys(ty: &str, v: &str) -> Result<Option<Vec<Key>>, String> {
    let v = v.trim();
    let one = |k: Result<Key, String>| k.map(|k| Some(vec![k]));
    match ty {
        "ip-src" | "ip-dst" => one(ip_or_cidr(v)),
        "ip-src|port" | "ip-dst|port" => {
            let (a, p) = v
                .rsplit_once('|')
                .ok_or_else(|| format!("{v:?} is not ip|port"))?;
            let ip = indicator::ip(a.trim()).ok_or_else(|| format!("{a:?} is not an IP"))?;
            let port = p
                .trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port"))?;
            one(Ok(Key::IpPort(ip, port)))
        }
        "domain" | "hostname" => one(indicator::domain(v).map(Key::Domain)),
        "domain|ip" => {
            let (d, a) = v
                .split_once('|')
                .ok_or_else(|| format!("{v:?} is not domain|ip"))?;
            Ok(Some(vec![
                Key::Domain(indicator::domain(d.trim())?),
                ip_or_cidr(a)?,
            ]))
        }
        "url" => match indicator::classify(v)? {
            k @ (Key::Url(_) | Key::Path(_) | Key::Domain(_) | Key::Ip(_) | Key::IpPort(..)) => {
                one(Ok(k))
            }
            _ => Err(format!("{v:?} is not a URL")),
        },
        "uri" if v.starts_with('/') => one(indicator::classify(v)),
        "uri" => keys("url", v),
        "md5" | "sha1" | "sha256" => one(hash_of(ty, v)),
        "filename|md5" | "filename|sha1" | "filename|sha256" => {
            let (_, h) = v
                .rsplit_once('|')
                .ok_or_else(|| format!("{v:?} is not filename|hash"))?;
            one(hash_of(&ty["filename|".len()..], h))
        }
        "email-src" | "email" => one(indicator::email(v).map(Key::Email)),
        _ => Ok(None),
    }
}

/// Adds one attribute under `label`.
pub(crate) fn add_attribute(
    a: &Attribute<'_>,
    label: Option<u32>,
    require_to_ids: bool,
    path: &Path,
    location: impl FnOnce() -> String,
    c: &mut Collector,
) {
    c.report.records += 1;
    *c.report.source_types.entry(a.ty.to_string()).or_default() += 1;
    if a.deleted {
        *c.report.not_matchable.entry("deleted".into()).or_default() += 1;
        return;
    }
    if require_to_ids && !a.to_ids {
        c.report.not_ids += 1;
        return;
    }
    if !require_to_ids && !a.to_ids && a.category == "External analysis" {
        *c.report
            .not_matchable
            .entry("category External analysis".into())
            .or_default() += 1;
        return;
    }
    match keys(a.ty, a.value) {
        Ok(Some(ks)) => {
            for k in ks {
                c.add(k, a.value.trim(), label);
            }
        }
        Ok(None) => *c.report.not_matchable.entry(a.ty.to_string()).or_default() += 1,
        Err(message) => c.warn(path, location(), format!("{}: {message}", a.ty)),
    }
}

fn events(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().flat_map(events).collect(),
        Value::Object(o) => {
            if let Some(r) = o.get("response") {
                events(r)
            } else if let Some(e) = o.get("Event") {
                vec![e]
            } else if o.contains_key("Attribute") || o.contains_key("Object") {
                vec![v]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// Reads MISP event JSON: `{"Event":…}`, `{"response":[{"Event":…},…]}` or a list of events.
pub(crate) fn parse_json(
    text: &str,
    path: &Path,
    require_to_ids: bool,
    c: &mut Collector,
) -> Result<(), IocError> {
    let v: Value = serde_json::from_str(text).map_err(|e| IocError::Parse {
        path: path.to_path_buf(),
        line: Some(e.line() as u64),
        message: format!("json: {e}"),
    })?;
    let evs = events(&v);
    if evs.is_empty() {
        return Err(IocError::Parse {
            path: path.to_path_buf(),
            line: None,
            message: "no MISP event (expected `Event`, `response` or a list of events)".into(),
        });
    }
    for (n, ev) in evs.into_iter().enumerate() {
        let info = ev.get("info").and_then(Value::as_str).map(str::trim);
        let label = match info {
            Some(i) if !i.is_empty() => Some(c.label(i)),
            _ => ev
                .get("id")
                .and_then(Value::as_str)
                .map(|id| c.label(&format!("event {id}"))),
        };
        let top = ev.get("Attribute").and_then(Value::as_array).into_iter();
        let objs = ev
            .get("Object")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("Attribute").and_then(Value::as_array));
        for (i, a) in top.chain(objs).flatten().enumerate() {
            let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("");
            let attr = Attribute {
                ty: s("type"),
                value: s("value"),
                to_ids: truthy(a.get("to_ids")),
                category: s("category"),
                deleted: truthy(a.get("deleted")),
            };
            let location = || match a.get("uuid").and_then(Value::as_str) {
                Some(u) => format!("event {} attribute {u}", n + 1),
                None => format!("event {} attribute #{}", n + 1, i + 1),
            };
            add_attribute(&attr, label, require_to_ids, path, location, c);
        }
    }
    Ok(())
}

/// Reads a MISP CSV export. The header row names the columns; `type` and `value` are
/// required, `to_ids`, `category`, `deleted`, `event_info` and `event_id` are used when
/// present (the family is `event_info`, else `event <event_id>`).
pub(crate) fn parse_csv(
    text: &str,
    path: &Path,
    require_to_ids: bool,
    c: &mut Collector,
) -> Result<(), IocError> {
    let err = |line: u64, message: String| IocError::Parse {
        path: path.to_path_buf(),
        line: Some(line),
        message,
    };
    let records = csv_records(text).map_err(|(l, m)| err(l, m))?;
    let Some((header, rows)) = records.split_first() else {
        return Err(err(1, "empty CSV (expected a header row)".into()));
    };
    let col = |name: &str| header.fields.iter().position(|f| f.trim() == name);
    let (Some(ty), Some(value)) = (col("type"), col("value")) else {
        return Err(err(
            header.line,
            format!(
                "header {:?} lacks `type` and `value` (expected a MISP CSV export: \
                 uuid,event_id,category,type,value,comment,to_ids,date,…)",
                header.fields.join(",")
            ),
        ));
    };
    let (to_ids, category, deleted) = (col("to_ids"), col("category"), col("deleted"));
    let (info, event_id) = (col("event_info"), col("event_id"));
    for row in rows {
        let get = |i: Option<usize>| i.and_then(|i| row.fields.get(i)).map(String::as_str);
        if row.fields.len() != header.fields.len() {
            c.report.records += 1;
            c.warn(
                path,
                format!("line {}", row.line),
                format!(
                    "{} fields where the header has {}",
                    row.fields.len(),
                    header.fields.len()
                ),
            );
            continue;
        }
        let label = match (get(info), get(event_id)) {
            (Some(i), _) if !i.trim().is_empty() => Some(c.label(i.trim())),
            (_, Some(e)) if !e.trim().is_empty() => Some(c.label(&format!("event {}", e.trim()))),
            _ => None,
        };
        let attr = Attribute {
            ty: get(Some(ty)).unwrap_or("").trim(),
            value: get(Some(value)).unwrap_or(""),
            // Without a to_ids column every row counts as meant for detection.
            to_ids: get(to_ids).map(truthy_str).unwrap_or(true),
            category: get(category).unwrap_or("").trim(),
            deleted: get(deleted).map(truthy_str).unwrap_or(false),
        };
        add_attribute(
            &attr,
            label,
            require_to_ids,
            path,
            || format!("line {}", row.line),
            c,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::collect::Collector;

    fn kinds(c: &Collector) -> Vec<(IndicatorKind, String)> {
        c.entries
            .iter()
            .map(|e| (e.key.kind(), e.display.to_string()))
            .collect()
    }

    #[test]
    fn attribute_types() {
        use IndicatorKind::*;
        let cases: &[(&str, &str, &[IndicatorKind])] = &[
            ("ip-dst", "5.101.6.132", &[Ip]),
            ("ip-src", "10.0.0.0/8", &[Cidr]),
            ("ip-dst|port", "1.2.3.4|8080", &[IpPort]),
            ("domain", "server-1.ostdownload.xyz", &[Domain]),
            ("hostname", "a.example", &[Domain]),
            ("domain|ip", "burnandfire5.com|104.31.89.75", &[Domain, Ip]),
            ("url", "http://6e24a5fb.ngrok.io/file.php", &[Url]),
            ("url", "djcaps.gotdns.ch", &[Domain]),
            ("uri", "/dp/B074WC4NHW/ref=x", &[UrlPath]),
            ("md5", "b2b51a85bdad70ff19534cd013c07f24", &[Md5]),
            (
                "filename|sha1",
                "csrss.exe|1645ad8468a2fb54763c0ebeb766dfd8c643f3db",
                &[Sha1],
            ),
            ("email-src", "Bad@Evil.Example", &[Email]),
        ];
        for (ty, v, want) in cases {
            let mut c = Collector::new("t");
            let a = Attribute {
                ty,
                value: v,
                to_ids: true,
                category: "",
                deleted: false,
            };
            add_attribute(&a, None, true, Path::new("e.json"), || "a".into(), &mut c);
            let got: Vec<_> = kinds(&c).into_iter().map(|(k, _)| k).collect();
            assert_eq!(&got, want, "{ty} {v}");
        }
        let mut c = Collector::new("t");
        for (ty, v) in [
            ("md5", "abc"),
            ("sha1", "b2b51a85bdad70ff19534cd013c07f24"),
            ("ip-dst", "x"),
        ] {
            let a = Attribute {
                ty,
                value: v,
                to_ids: true,
                category: "",
                deleted: false,
            };
            add_attribute(
                &a,
                None,
                true,
                Path::new("e.json"),
                || "attribute u1".into(),
                &mut c,
            );
        }
        assert_eq!(c.report.skipped, 3);
        assert!(c.report.warnings[1].message.contains("not a sha1"));
    }

    #[test]
    fn to_ids_and_references() {
        let text = r#"{"response":[{"Event":{"info":"Op X","Attribute":[
            {"type":"domain","value":"c2.example","to_ids":true},
            {"type":"domain","value":"ctx.example","to_ids":false},
            {"type":"url","value":"https://blog.example/report","to_ids":false,"category":"External analysis"},
            {"type":"link","value":"https://blog.example/r2","to_ids":false},
            {"type":"md5","value":"b2b51a85bdad70ff19534cd013c07f24","to_ids":true,"deleted":true}],
            "Object":[{"name":"file","Attribute":[{"type":"sha1","value":"d7bf702f56ca53140f4f03b590e9afcbc83809db","to_ids":true}]}]}}]}"#;
        let mut c = Collector::new("t");
        parse_json(text, Path::new("e.json"), true, &mut c).unwrap();
        assert_eq!(kinds(&c).len(), 2);
        assert_eq!(c.report.not_ids, 3);
        assert_eq!(c.labels, vec!["Op X".to_string()]);
        let mut c = Collector::new("t");
        parse_json(text, Path::new("e.json"), false, &mut c).unwrap();
        let got: Vec<_> = kinds(&c).into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            got,
            vec![
                "c2.example",
                "ctx.example",
                "d7bf702f56ca53140f4f03b590e9afcbc83809db"
            ]
        );
        assert_eq!(c.report.not_matchable["link"], 1);
        assert_eq!(c.report.not_matchable["category External analysis"], 1);
        assert_eq!(c.report.not_matchable["deleted"], 1);
        let e = parse_json("{\"Event\": [1,", Path::new("bad.json"), true, &mut c).unwrap_err();
        assert!(e.to_string().starts_with("bad.json:1: json"), "{e}");
    }

    /// A MISP CSV export as `/attributes/restSearch/returnFormat:csv` writes it, with the event
    /// info column `includeContext` adds.
    const CSV: &str = "uuid,event_id,category,type,value,comment,to_ids,date,object_relation,attribute_tag,object_uuid,object_name,object_meta_category,event_info\n\
5eb0775e-0001-4234-89b8-5e640a019371,751,Network activity,domain,login-vcb.example,\"phishing kit, Vietnamese bank\",1,1588623293,,,,,,Ramsay\n\
5eb0775e-0002-4234-89b8-5e640a019371,751,Network activity,ip-dst|port,203.0.113.7|8443,\"C2\nsecond line\",1,1588623293,,,,,,Ramsay\n\
5eb0775e-0003-4234-89b8-5e640a019371,751,Payload delivery,filename|sha256,invoice.exe|885540b5a42fe845ffada109b4ef7eb1e07c158255ac315910dfb333ec85d513,,1,1588623293,,,,,,Ramsay\n\
5eb0775e-0004-4234-89b8-5e640a019371,751,External analysis,link,https://blog.example/ramsay,,0,1588623293,,,,,,Ramsay\n\
5eb0775e-0005-4234-89b8-5e640a019371,751,Network activity,url,http://203.0.113.9/gate.php,,0,1588623293,,,,,,Ramsay\n\
5eb0775e-0006-4234-89b8-5e640a019371,751,Payload delivery,email-src,hr@lure.example,,1,1588623293,,,,,,Ramsay\n\
5eb0775e-0007-4234-89b8-5e640a019371,751,Network activity,ip-dst,not-an-ip,,1,1588623293,,,,,,Ramsay\n\
5eb0775e-0008-4234-89b8-5e640a019371,752,Network activity,domain,short.example,,1\n";

    #[test]
    fn csv_export() {
        let mut c = Collector::new("t");
        parse_csv(CSV, Path::new("e.csv"), true, &mut c).unwrap();
        use IndicatorKind::*;
        let got: Vec<_> = kinds(&c).into_iter().map(|(k, _)| k).collect();
        assert_eq!(got, vec![Domain, IpPort, Sha256, Email]);
        assert_eq!(c.report.records, 8);
        assert_eq!(c.report.not_ids, 2);
        assert_eq!(c.report.skipped, 2);
        assert_eq!(c.report.warnings[0].location, "line 9");
        assert_eq!(c.report.warnings[1].location, "line 10");
        assert_eq!(c.labels, vec!["Ramsay".to_string()]);
        let e = parse_csv("a,b\n1,2\n", Path::new("x.csv"), true, &mut c).unwrap_err();
        assert!(e.to_string().contains("x.csv:1: header"), "{e}");
    }
}
