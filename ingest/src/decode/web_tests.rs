use super::*;

fn decode_all(lines: &[&str]) -> Vec<Option<Decoded>> {
    let mut d = WebDecoder::new(&DecoderOptions::default());
    lines
        .iter()
        .map(|l| d.decode(l.as_bytes()).unwrap())
        .collect()
}

fn one(line: &str) -> Decoded {
    decode_all(&[line]).pop().unwrap().unwrap()
}

#[test]
fn combined_wrapped_in_quotes() {
    let d = one(
        r#""192.168.4.25 - - [22/Dec/2016:16:30:52 +0300] "POST /administrator/index.php?x=1 HTTP/1.1" 303 382 "http://192.168.4.161/DVWA" "Mozilla/5.0 (Windows NT 6.1)"""#,
    );
    let o = &d.original;
    assert_eq!(o["c-ip"], "192.168.4.25");
    assert_eq!(o["cs-method"], "POST");
    assert_eq!(o["cs-uri-stem"], "/administrator/index.php");
    assert_eq!(o["cs-uri-query"], "x=1");
    assert_eq!(o["cs-version"], "HTTP/1.1");
    assert_eq!(o["sc-status"], 303);
    assert_eq!(o["sc-bytes"], 382);
    assert_eq!(o["cs-referer"], "http://192.168.4.161/DVWA");
    assert_eq!(o["cs-user-agent"], "Mozilla/5.0 (Windows NT 6.1)");
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2016-12-22T13:30:52+00:00"
    );
    assert_eq!(d.ecs.source_ip, Some("192.168.4.25".parse().unwrap()));
    assert_eq!(d.ecs.url_query.as_deref(), Some("x=1"));
    assert_eq!(d.dataset.as_str(), "web.access");
}

#[test]
fn common_with_dash_bytes_and_scanner_requests() {
    let d = one(r#"192.168.105.83 - - [11/Jul/2018:08:41:28 +0300] "GET /manager HTTP/1.1" 302 -"#);
    assert_eq!(d.original["sc-status"], 302);
    assert!(d.original.get("sc-bytes").is_none());
    let d = one(
        r#"10.0.0.1 - - [11/Jul/2018:09:32:02 +0300] "GET /a"b.php?q=<script>"x" HTTP/1.1" 404 12 "-" "sqlmap""#,
    );
    assert_eq!(d.original["cs-uri"], "/a\"b.php?q=<script>\"x\"");
    assert_eq!(d.original["sc-status"], 404);
    assert_eq!(d.ecs.user_agent.as_deref(), Some("sqlmap"));
    let d =
        one("192.168.105.83 - - [11/Jul/2018:09:32:02 +0300] \"\u{16}\u{3}\u{1}\u{fffd}r>\" 400 -");
    assert_eq!(d.original["sc-status"], 400);
    assert!(d.original.get("cs-method").is_none());
    let d = one(r#"1.2.3.4 - bob [11/Jul/2018:09:32:02 +0300] "-" 408 -"#);
    assert_eq!(d.ecs.user_name.as_deref(), Some("bob"));
    let d = one(
        r#"1.2.3.4 - - [11/Jul/2018:09:32:02 +0300] "GET http://evil.example/x?y HTTP/1.1" 200 1 "-" "-""#,
    );
    assert_eq!(d.ecs.url_domain.as_deref(), Some("evil.example"));
    assert_eq!(d.ecs.url_path.as_deref(), Some("/x"));
}

#[test]
fn malformed_lines() {
    let mut d = WebDecoder::new(&DecoderOptions::default());
    assert!(d.decode(b"garbage").is_err());
    assert!(d.decode(b"1.2.3.4 - - [x] \"GET / HTTP/1.1\"").is_err());
}

#[test]
fn iis_with_fields_header() {
    let out = decode_all(&[
        "#Software: Microsoft Internet Information Services 10.0",
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
        "# comment",
        "2019-09-03 10:13:36 10.0.2.15 GET /erp/conn.aspx proxy&port=3389&ip=127.0.0.1 80 - 10.0.2.17 Mozilla/5.0+(Windows+NT) - 200 0 0 7",
    ]);
    assert!(out[..3].iter().all(Option::is_none));
    let d = out[3].as_ref().unwrap();
    let o = &d.original;
    assert_eq!(o["cs-user-agent"], "Mozilla/5.0 (Windows NT)");
    assert_eq!(o["cs(User-Agent)"], "Mozilla/5.0 (Windows NT)");
    assert_eq!(o["cs-uri-query"], "proxy&port=3389&ip=127.0.0.1");
    assert_eq!(o["sc-status"], 200);
    assert_eq!(o["time-taken"], 7);
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2019-09-03T10:13:36+00:00"
    );
    assert_eq!(d.ecs.source_ip, Some("10.0.2.17".parse().unwrap()));
    assert_eq!(d.ecs.destination_port, Some(80));
    assert_eq!(d.ecs.url_path.as_deref(), Some("/erp/conn.aspx"));
    let mut dec = WebDecoder::new(&DecoderOptions::default());
    dec.decode(b"#Fields: date time c-ip").unwrap();
    assert_eq!(
        dec.decode(b"2019-09-03 10:13:36").unwrap_err().kind,
        ErrorKind::Malformed
    );
    // Another #Fields: later in the file changes the columns.
    dec.decode(b"#Fields: c-ip cs-method").unwrap();
    let d = dec.decode(b"10.1.1.1 PUT").unwrap().unwrap();
    assert_eq!(d.ecs.http_request_method.as_deref(), Some("PUT"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(line in "\\PC{0,160}", quoted in any::<bool>()) {
            let mut d = WebDecoder::new(&DecoderOptions::default());
            let line = if quoted { format!("\"{line}\"") } else { line };
            let _ = d.decode(line.as_bytes());
            let _ = d.decode(format!("1.2.3.4 - - [{line}").as_bytes());
            let _ = d.decode(format!("1.2.3.4 - - [11/Jul/2018:08:41:28 +0300] \"{line}").as_bytes());
            let _ = crate::detect::sniff(line.as_bytes());
            let _ = d.decode(b"#Fields: date time c-ip cs-method");
            let _ = d.decode(line.as_bytes());
        }

        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = WebDecoder::new(&DecoderOptions::default()).decode(&bytes);
            let _ = crate::detect::sniff(&bytes);
        }
    }
}

#[test]
fn an_access_time_without_its_zone_is_local() {
    let line = r#"203.0.113.7 - - [31/Dec/2023:22:14:00] "GET / HTTP/1.1" 200 5 "-" "x""#;
    let d = decode_all(&[line]).remove(0).unwrap();
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2023-12-31T15:14:00+00:00"
    );
    let d = WebDecoder::new(&DecoderOptions::default().local_offset(util::utc()))
        .decode(line.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2023-12-31T22:14:00+00:00"
    );
}

#[test]
fn vhost_combined() {
    // (line, url.domain, destination.port, url.full, source.ip)
    let cases = [
        (
            r#"moh.gov.vn:443 198.51.100.23 - - [13/Oct/2026:22:41:00 +0700] "GET /tin-tuc/index.php?id=12 HTTP/1.1" 200 5120 "https://moh.gov.vn/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64)""#,
            "moh.gov.vn",
            443,
            "https://moh.gov.vn/tin-tuc/index.php?id=12",
            "198.51.100.23",
        ),
        (
            r#"portal.hanoi.gov.vn:80 2001:db8:5::17 - - [13/Oct/2026:22:41:03 +0700] "POST /uploads/img/x.php HTTP/1.1" 200 31 "-" "python-requests/2.31.0""#,
            "portal.hanoi.gov.vn",
            80,
            "http://portal.hanoi.gov.vn/uploads/img/x.php",
            "2001:db8:5::17",
        ),
        (
            r#"intranet.mof.gov.vn:8443 10.1.2.3 - editor [13/Oct/2026:09:00:00 +0700] "PUT /index.html HTTP/1.1" 201 0 "-" "curl/8.5.0""#,
            "intranet.mof.gov.vn",
            8443,
            "http://intranet.mof.gov.vn:8443/index.html",
            "10.1.2.3",
        ),
        (
            r#"[2001:db8::80]:443 203.0.113.9 - - [13/Oct/2026:09:00:00 +0700] "GET / HTTP/1.1" 304 - "-" "-""#,
            "[2001:db8::80]",
            443,
            "https://[2001:db8::80]/",
            "203.0.113.9",
        ),
    ];
    for (line, domain, port, full, client) in cases {
        let d = one(line);
        assert_eq!(d.ecs.url_domain.as_deref(), Some(domain), "{line}");
        assert_eq!(d.ecs.destination_port, Some(port), "{line}");
        assert_eq!(d.ecs.url_full.as_deref(), Some(full), "{line}");
        assert_eq!(d.ecs.source_ip, Some(client.parse().unwrap()), "{line}");
        assert_eq!(d.original["cs-host"], domain);
        assert_eq!(d.original["c-ip"], client);
        assert!(d.ecs.related.hosts.contains(&domain.to_string()));
        assert_eq!(d.timestamp.unwrap().to_rfc3339()[..10], *"2026-10-13");
    }
    let d = one(cases[2].0);
    assert_eq!(d.ecs.user_name.as_deref(), Some("editor"));
    assert_eq!(d.ecs.http_request_method.as_deref(), Some("PUT"));
    assert_eq!(d.ecs.url_path.as_deref(), Some("/index.html"));
    // Combined lines, with an IPv6 client or a user name with a space, are not virtual hosts.
    for line in [
        r#"2001:db8::1 - - [13/Oct/2026:22:41:00 +0700] "GET / HTTP/1.1" 200 5 "-" "x""#,
        r#"10.0.0.1 - john doe [13/Oct/2026:22:41:00 +0700] "GET / HTTP/1.1" 200 5 "-" "x""#,
    ] {
        let d = one(line);
        assert_eq!(d.ecs.url_domain, None, "{line}");
        assert_eq!(d.ecs.destination_port, None, "{line}");
    }
    assert_eq!(
        one(r#"2001:db8::1 - - [13/Oct/2026:22:41:00 +0700] "GET / HTTP/1.1" 200 5 "-" "x""#)
            .ecs
            .source_ip,
        Some("2001:db8::1".parse().unwrap())
    );
    // Detection picks web for a vhost_combined file.
    assert_eq!(
        crate::detect::sniff(format!("{}\n{}\n", cases[0].0, cases[1].0).as_bytes())
            .map(|(f, _)| f),
        Some(Format::Web)
    );
}
