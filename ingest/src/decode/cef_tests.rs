use super::*;
use proptest::prelude::*;

fn dec() -> CefDecoder {
    CefDecoder::new(&DecoderOptions::default().now("2024-06-01T00:00:00Z".parse().unwrap()))
}

fn decode(line: &str) -> Decoded {
    dec().decode(line.as_bytes()).unwrap().unwrap()
}

#[test]
fn arcsight_over_syslog() {
    let d = decode(
        r#"<134>Feb 19 12:00:01 arcsight-conn CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 dpt=445 proto=TCP suser=alice act=blocked msg=Detected a threat. No action needed rt=1708344001000"#,
    );
    let o = &d.original;
    assert_eq!(o["deviceVendor"], "Security");
    assert_eq!(o["deviceProduct"], "threatmanager");
    assert_eq!(o["deviceEventClassId"], "100");
    assert_eq!(o["msg"], "Detected a threat. No action needed");
    assert_eq!(o["syslog"]["hostname"], "arcsight-conn");
    assert_eq!(o["syslog"]["priority"], 134);
    let e = &d.ecs;
    assert_eq!(e.rule_id.as_deref(), Some("100"));
    assert_eq!(e.rule_name.as_deref(), Some("worm successfully stopped"));
    assert_eq!(e.event_severity, Some(10));
    assert_eq!(e.source_ip, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(e.destination_port, Some(445));
    assert_eq!(e.network_transport.as_deref(), Some("tcp"));
    assert_eq!(e.user_name.as_deref(), Some("alice"));
    assert_eq!(e.event_action.as_deref(), Some("blocked"));
    assert_eq!(e.host_name.as_deref(), Some("arcsight-conn"));
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2024-02-19T12:00:01+00:00"
    );
    assert_eq!(d.dataset.as_str(), "cef");
}

#[test]
fn escaping_rules() {
    let d = decode(
        r#"CEF:0|Ven\|dor|Prod\\uct|1.0|sig|Name with \| pipe|Medium|cs1=a\=b c\\d\nline2 cs1Label=Rule = x request=http://evil.example/a?x=1&y=2 fileHash=0123456789abcdef0123456789abcdef"#,
    );
    let o = &d.original;
    assert_eq!(o["deviceVendor"], "Ven|dor");
    assert_eq!(o["deviceProduct"], "Prod\\uct");
    assert_eq!(o["name"], "Name with | pipe");
    assert_eq!(o["cs1"], "a=b c\\d\nline2");
    assert_eq!(o["cs1Label"], "Rule = x");
    assert_eq!(o["request"], "http://evil.example/a?x=1&y=2");
    assert_eq!(d.ecs.event_severity, Some(5));
    assert_eq!(d.ecs.url_domain.as_deref(), Some("evil.example"));
    assert_eq!(d.ecs.url_path.as_deref(), Some("/a"));
    assert_eq!(d.ecs.url_query.as_deref(), Some("x=1&y=2"));
    assert_eq!(
        d.ecs.file_hash_md5.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
}

#[test]
fn fortigate_and_checkpoint_styles() {
    let d = decode(
        r#"<189>Mar  4 10:17:42 FGT-HQ CEF:0|Fortinet|Fortigate|v7.2.5|13|traffic:forward deny|3|deviceExternalId=FG100F duser=bob src=192.168.1.10 spt=51515 dst=203.0.113.9 dpt=443 proto=6 act=deny deviceInboundInterface=port1 cat=traffic:forward FTNTFGTpolicyid=12 start=Mar 04 2024 10:17:42 UTC"#,
    );
    assert_eq!(d.ecs.user_name.as_deref(), Some("bob"));
    assert_eq!(d.ecs.rule_category.as_deref(), Some("traffic:forward"));
    assert_eq!(d.original["FTNTFGTpolicyid"], "12");
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2024-03-04T10:17:42+00:00"
    );
    let d = decode(
        r#"<134>1 2024-05-01T08:00:00Z cp-mgmt CheckPoint 2222 - - CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Drop deviceDirection=0 rt=1714550400000 src=198.51.100.23 dst=10.10.10.10 spt=40000 dpt=3389 proto=6 requestClientApplication=Mozilla/5.0 (X11) requestMethod=GET"#,
    );
    assert_eq!(d.original["syslog"]["appname"], "CheckPoint");
    assert_eq!(d.ecs.event_severity, None);
    assert_eq!(d.ecs.user_agent.as_deref(), Some("Mozilla/5.0 (X11)"));
    assert_eq!(d.ecs.http_request_method.as_deref(), Some("GET"));
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2024-05-01T08:00:00+00:00"
    );
}

#[test]
fn malformed() {
    let e = dec().decode(b"CEF:0|only|three").unwrap_err();
    assert_eq!(e.kind, crate::decode::ErrorKind::Truncated);
    let e = dec().decode(b"no cef here").unwrap_err();
    assert_eq!(e.kind, crate::decode::ErrorKind::Malformed);
    let e = dec()
        .decode(b"<999>Feb 19 12:00:01 h CEF:0|a|b|c|d|e|1|")
        .unwrap_err();
    assert_eq!(e.kind, crate::decode::ErrorKind::BadPriority);
    let d = decode("CEF:0|a|b|c|d|e|1");
    assert_eq!(d.original["severity"], "1");
}

proptest! {
    #[test]
    fn never_panics(ext in "\\PC{0,200}", hdr in "[a-z|\\\\]{0,20}") {
        let _ = dec().decode(format!("CEF:0|{hdr}|{ext}").as_bytes());
        let _ = dec().decode(format!("<13>Jan  1 00:00:00 h CEF:{ext}").as_bytes());
        let _ = dec().decode(format!("CEF:0|V|P|1|s|n|5|{ext}").as_bytes());
    }

    #[test]
    fn extension_values_round_trip(
        pairs in proptest::collection::vec(("[a-zA-Z][a-zA-Z0-9]{0,8}", "[ -~]{0,20}"), 1..6)
    ) {
        let escape = |v: &str| v.replace('\\', "\\\\").replace('=', "\\=");
        let mut seen = std::collections::HashSet::new();
        let pairs: Vec<_> = pairs.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
        let ext: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", escape(v.trim()))).collect();
        let parsed = extension(&ext.join(" "));
        let want: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.clone(), v.trim().to_string())).collect();
        prop_assert_eq!(parsed, want);
    }
}
