use super::*;
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    "2024-01-15T12:00:00Z".parse().unwrap()
}

fn dec() -> SyslogDecoder {
    SyslogDecoder::new(&DecoderOptions::default().now(now()))
}

fn decode(line: &str) -> Decoded {
    dec().decode(line.as_bytes()).unwrap().unwrap()
}

#[test]
fn rfc3164_without_pri_and_year_inference() {
    let d = decode("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186");
    // December is after "now" (January 2024) in 2024, so it is December 2023; the time is
    // read in the default local offset, +07:00.
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2023-12-09T23:55:46+00:00"
    );
    assert_eq!(d.original["hostname"], "LabSZ");
    assert_eq!(d.original["appname"], "sshd");
    assert_eq!(d.original["procid"], "24200");
    assert_eq!(
        d.original["message"],
        "Invalid user webmaster from 173.234.31.186"
    );
    assert_eq!(d.ecs.process_pid, Some(24200));
    assert_eq!(d.ecs.event_action.as_deref(), Some("ssh_invalid_user"));
    assert_eq!(d.ecs.user_name.as_deref(), Some("webmaster"));
    let d = decode("Jan 15 11:00:00 h app: x");
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2024-01-15T04:00:00+00:00"
    );
    let d = decode("Jun  9 06:06:20 combo syslogd 1.4.1: restart.");
    assert_eq!(d.original["appname"], "syslogd");
    assert_eq!(d.original["message"], "1.4.1: restart.");
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2023-06-08T23:06:20+00:00"
    );
}

#[test]
fn zone_less_times_are_read_in_the_local_offset() {
    let utc = |line: &str| {
        SyslogDecoder::new(
            &DecoderOptions::default()
                .now(now())
                .local_offset(util::utc()),
        )
        .decode(line.as_bytes())
        .unwrap()
        .unwrap()
        .timestamp
        .unwrap()
        .to_rfc3339()
    };
    let minus_0530 = FixedOffset::west_opt(5 * 3600 + 1800).unwrap();
    let at = |line: &str, offset| {
        SyslogDecoder::new(&DecoderOptions::default().now(now()).local_offset(offset))
            .decode(line.as_bytes())
            .unwrap()
            .unwrap()
            .timestamp
            .unwrap()
            .to_rfc3339()
    };
    let bsd = "Dec 31 22:14:00 gw sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2";
    assert_eq!(
        decode(bsd).timestamp.unwrap().to_rfc3339(),
        "2023-12-31T15:14:00+00:00"
    );
    assert_eq!(utc(bsd), "2023-12-31T22:14:00+00:00");
    assert_eq!(at(bsd, minus_0530), "2024-01-01T03:44:00+00:00");
    let apache = "[Sun Dec 31 22:14:00 2023] [error] [client 203.0.113.7] File does not exist";
    assert_eq!(
        decode(apache).timestamp.unwrap().to_rfc3339(),
        "2023-12-31T15:14:00+00:00"
    );
    assert_eq!(utc(apache), "2023-12-31T22:14:00+00:00");
    // RFC 5424 and rsyslog's ISO timestamps written without a zone, and with one.
    for line in [
        "<34>1 2023-12-31T22:14:00 gw su - - - x",
        "2023-12-31T22:14:00 gw su: x",
    ] {
        assert_eq!(
            decode(line).timestamp.unwrap().to_rfc3339(),
            "2023-12-31T15:14:00+00:00"
        );
        assert_eq!(utc(line), "2023-12-31T22:14:00+00:00");
    }
    assert_eq!(
        utc("<34>1 2023-12-31T22:14:00+07:00 gw su - - - x"),
        "2023-12-31T15:14:00+00:00"
    );
}

#[test]
fn rfc3164_with_pri_and_pam_tag() {
    let d = decode("<38>Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 ");
    assert_eq!(d.original["facility"], 4);
    assert_eq!(d.original["severity"], 6);
    assert_eq!(d.original["appname"], "sshd(pam_unix)");
    assert_eq!(d.ecs.log_level.as_deref(), Some("info"));
    assert_eq!(d.ecs.source_ip, Some("218.188.2.4".parse().unwrap()));
    assert_eq!(d.ecs.event_outcome.as_deref(), Some("failure"));
    let d = decode("<13>Feb  5 17:32:18 10.0.0.99 kernel: eth0: link up");
    assert_eq!(d.ecs.host_ip, Some("10.0.0.99".parse().unwrap()));
    assert_eq!(d.original["message"], "eth0: link up");
}

#[test]
fn rfc5424_with_structured_data() {
    let d = decode(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high \"q\" \]"] An application event log entry"#,
    );
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2003-10-11T22:14:15.003+00:00"
    );
    assert_eq!(d.original["hostname"], "mymachine.example.com");
    assert_eq!(d.original["appname"], "evntslog");
    assert!(d.original.get("procid").is_none());
    assert_eq!(d.original["msgid"], "ID47");
    assert_eq!(
        d.original["structured_data"]["exampleSDID@32473"]["eventSource"],
        "Application"
    );
    assert_eq!(
        d.original["structured_data"]["examplePriority@32473"]["class"],
        "high \"q\" ]"
    );
    assert_eq!(d.original["message"], "An application event log entry");
    let d = decode("<34>1 2003-10-11T22:14:15.003+07:00 host su - - - \u{feff}'su root' failed");
    assert_eq!(d.original["message"], "'su root' failed");
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2003-10-11T15:14:15.003+00:00"
    );
}

#[test]
fn bad_priority() {
    for (line, msg) in [
        (
            "<999>Dec 10 06:55:46 host app: x",
            "bad_priority: priority <999> is above 191",
        ),
        (
            "<x>Dec 10 06:55:46 host app: x",
            "bad_priority: priority <x> is not a number",
        ),
        (
            "<12345678 no close",
            "bad_priority: priority is not closed by '>'",
        ),
    ] {
        let e = dec().decode(line.as_bytes()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadPriority);
        assert_eq!(e.to_string(), msg);
    }
}

#[test]
fn apache_error_lines() {
    let d = decode("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6");
    assert_eq!(d.dataset.as_str(), "apache.error");
    assert_eq!(
        d.timestamp.unwrap().to_rfc3339(),
        "2005-12-03T21:47:44+00:00"
    );
    assert_eq!(d.original["level"], "error");
    assert_eq!(
        d.original["message"],
        "mod_jk child workerEnv in error state 6"
    );
    let d = decode("[Sat Jun 24 09:06:22 2017] [error] [client 222.166.160.184] Directory index forbidden by rule: /var/www/html/");
    assert_eq!(d.ecs.source_ip, Some("222.166.160.184".parse().unwrap()));
    let d = decode("[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:5000] File does not exist");
    assert_eq!(d.original["module"], "core");
    assert_eq!(d.ecs.process_pid, Some(35708));
    assert_eq!(d.ecs.source_ip, Some("72.15.99.187".parse().unwrap()));
}

#[test]
fn unstructured_and_lossy() {
    let d = decode("172.16.5.10 6705: Feb 17 13:40:03.673: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin");
    assert_eq!(d.timestamp, None);
    assert!(d.original["message"]
        .as_str()
        .unwrap()
        .starts_with("172.16.5.10"));
    let d = dec()
        .decode(b"Dec 10 06:55:46 host app: bad \xff byte")
        .unwrap()
        .unwrap();
    assert_eq!(d.original["message"], "bad \u{fffd} byte");
    assert_eq!(dec().decode(b"   \r").unwrap(), None);
}

proptest! {
    #[test]
    fn never_panics(line in "\\PC{0,200}") {
        let _ = dec().decode(line.as_bytes());
        let _ = dec().decode(format!("<{line}").as_bytes());
        let _ = dec().decode(format!("<13>1 {line}").as_bytes());
        let _ = dec().decode(format!("[{line}").as_bytes());
    }

    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = dec().decode(&bytes);
    }

    #[test]
    fn header_shapes_never_panic(
        pri in 0u16..300, mon in 0usize..12, day in 0u32..40, rest in "[ -~]{0,60}",
    ) {
        let line = format!("<{pri}>{} {day:>2} 10:11:12 {rest}", MONTHS[mon]);
        let r = dec().decode(line.as_bytes());
        if pri > 191 {
            prop_assert!(r.is_err());
        } else {
            prop_assert!(r.is_ok());
        }
    }
}

#[test]
fn stray_dashes_before_tag() {
    let d = decode("Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2");
    assert_eq!(d.original["hostname"], "combo");
    assert_eq!(d.original["appname"], "root");
    assert_eq!(d.original["message"], "ROOT LOGIN ON tty2");
}

#[test]
fn no_tag() {
    let d = decode("Dec 10 06:55:46 host some free text here");
    assert_eq!(d.original["hostname"], "host");
    assert!(d.original.get("appname").is_none());
    assert_eq!(d.original["message"], "some free text here");
}

#[test]
fn cisco_messages_are_marked_and_other_hosts_are_not() {
    for line in [
        "172.16.5.10 6705: Feb 17 13:40:03.673: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged command:no access-session port-control",
        "<189>52: *Mar  1 00:05:21.323: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.5)",
        "<166>Jan 12 2024 10:01:02 fw01 : %ASA-6-302013: Built inbound TCP connection 1 for outside:1.2.3.4/5",
        "2024 Jan 12 10:01:02 nx01 %AUTHPRIV-6-SYSTEM_MSG: pam_unix(aaa:session): session opened",
        "<187>Jan 12 10:01:02 r1 %LINEPROTO-SP-5-UPDOWN: Line protocol on Interface Gi0/1, changed state to up",
    ] {
        let d = decode(line);
        assert_eq!(d.original["device_vendor"], "cisco", "{line}");
    }
    for line in [
        "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4",
        "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
        "Jan 12 10:01:02 web1 app[1]: disk at 95%: more space needed",
        "Jan 12 10:01:02 web1 app[1]: progress 50%-5-DONE: halfway",
        "<190>Jan 12 10:01:02 hw1 %%01SHELL/5/CMDRECORD(s)[0]:Recorded command information.",
    ] {
        let d = decode(line);
        assert!(d.original.get("device_vendor").is_none(), "{line}");
    }
}
