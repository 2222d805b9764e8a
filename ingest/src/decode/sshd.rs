//! Well-known sshd and PAM messages into ECS, for brute-force detection.
//!
//! | message | event.action | event.outcome |
//! |---|---|---|
//! | `Failed password for [invalid user] USER from IP port N ssh2` | `ssh_failed_password` | failure |
//! | `Failed publickey/none/keyboard-interactive…` | `ssh_failed_<method>` | failure |
//! | `Accepted password/publickey for USER from IP port N ssh2` | `ssh_accepted_<method>` | success |
//! | `Invalid user USER from IP [port N]` | `ssh_invalid_user` | failure |
//! | `pam_unix(sshd:auth): authentication failure; … rhost=IP  user=USER` | `pam_authentication_failure` | failure |
//! | `authentication failure; … rhost=HOST` (`sshd(pam_unix)` tag) | `pam_authentication_failure` | failure |
//! | `Connection closed by [authenticating user U] IP port N [preauth]` | `ssh_connection_closed` | – |
//! | `Received disconnect from IP port N:…` | `ssh_disconnect` | – |
//! | `reverse mapping checking getaddrinfo for HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!` | `ssh_reverse_mapping_failed` | – |
//!
//! `message repeated N times: [ … ]` is unwrapped first.

use canhgac_core::Ecs;

use super::util::ip;

/// Fills `event.action`, `event.outcome`, `user.name`, `source.ip`/`source.port` (and
/// `related.hosts` for an rhost that is a name) from an sshd/PAM message. Returns whether the
/// message was recognised.
pub(crate) fn parse(message: &str, ecs: &mut Ecs) -> bool {
    let mut msg = message.trim();
    if let Some(rest) = msg.strip_prefix("message repeated ") {
        if let Some(open) = rest.find('[') {
            msg = rest[open + 1..].trim().trim_end_matches(']').trim();
        }
    }
    if let Some(rest) = msg.strip_prefix("Failed ") {
        return auth_result(rest, "ssh_failed_", "failure", ecs);
    }
    if let Some(rest) = msg.strip_prefix("Accepted ") {
        return auth_result(rest, "ssh_accepted_", "success", ecs);
    }
    if let Some(rest) = msg.strip_prefix("Invalid user ") {
        // "Invalid user USER from IP [port N]"; USER may be empty or contain spaces.
        let (user, tail) = match rest.rfind(" from ") {
            Some(i) => (&rest[..i], &rest[i + 6..]),
            None => (rest, ""),
        };
        set_user(ecs, user);
        from_ip_port(tail, ecs);
        return action(ecs, "ssh_invalid_user", Some("failure"));
    }
    if msg.contains("authentication failure;") {
        // pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root
        for kv in msg.split_whitespace() {
            if let Some(host) = kv.strip_prefix("rhost=") {
                match ip(host) {
                    Some(addr) => ecs.source_ip = Some(addr),
                    None if !host.is_empty() => ecs.related.add_host(host),
                    None => {}
                }
            } else if let Some(user) = kv.strip_prefix("user=") {
                set_user(ecs, user);
            }
        }
        return action(ecs, "pam_authentication_failure", Some("failure"));
    }
    if let Some(rest) = msg.strip_prefix("Connection closed by ") {
        let rest = rest
            .strip_prefix("authenticating user ")
            .or_else(|| rest.strip_prefix("invalid user "))
            .map(|r| {
                let (user, tail) = r.split_once(' ').unwrap_or((r, ""));
                set_user(ecs, user);
                tail
            })
            .unwrap_or(rest);
        ip_then_port(rest, ecs);
        return action(ecs, "ssh_connection_closed", None);
    }
    if let Some(rest) = msg.strip_prefix("Received disconnect from ") {
        ip_then_port(rest.split(':').next().unwrap_or(rest), ecs);
        if ecs.source_ip.is_none() {
            // IPv6 addresses contain colons: take the token before " port".
            ip_then_port(rest, ecs);
        }
        return action(ecs, "ssh_disconnect", None);
    }
    if let Some(rest) = msg.strip_prefix("reverse mapping checking getaddrinfo for ") {
        if let Some((host, tail)) = rest.split_once(" [") {
            ecs.related.add_host(host);
            ecs.source_ip = tail.split(']').next().and_then(ip);
        }
        return action(ecs, "ssh_reverse_mapping_failed", None);
    }
    false
}

fn action(ecs: &mut Ecs, name: &str, outcome: Option<&str>) -> bool {
    ecs.event_action = Some(name.to_string());
    ecs.event_outcome = outcome.map(str::to_string);
    true
}

fn set_user(ecs: &mut Ecs, user: &str) {
    let user = user.trim();
    if !user.is_empty() {
        ecs.user_name = Some(user.to_string());
    }
}

/// "password for [invalid user] USER from IP port N ssh2"
fn auth_result(rest: &str, prefix: &str, outcome: &str, ecs: &mut Ecs) -> bool {
    let Some((method, tail)) = rest.split_once(" for ") else {
        return false;
    };
    if method.contains(' ') {
        return false;
    }
    let tail = tail.strip_prefix("invalid user ").unwrap_or(tail);
    let (user, from) = match tail.rfind(" from ") {
        Some(i) => (&tail[..i], &tail[i + 6..]),
        None => return false,
    };
    set_user(ecs, user);
    from_ip_port(from, ecs);
    let name = format!("{prefix}{}", method.replace('-', "_"));
    action(ecs, &name, Some(outcome))
}

/// "IP port N ssh2" or "IP"
fn from_ip_port(s: &str, ecs: &mut Ecs) {
    ip_then_port(s, ecs);
}

fn ip_then_port(s: &str, ecs: &mut Ecs) {
    let mut words = s.split_whitespace();
    if let Some(addr) = words.next().and_then(ip) {
        ecs.source_ip = Some(addr);
    }
    if words.next() == Some("port") {
        ecs.source_port = words
            .next()
            .and_then(|p| p.trim_end_matches(':').parse().ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(msg: &str) -> Ecs {
        let mut ecs = Ecs::default();
        assert!(parse(msg, &mut ecs), "{msg}");
        ecs
    }

    #[test]
    fn failed_and_accepted() {
        let e = p("Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2");
        assert_eq!(e.event_action.as_deref(), Some("ssh_failed_password"));
        assert_eq!(e.event_outcome.as_deref(), Some("failure"));
        assert_eq!(e.user_name.as_deref(), Some("webmaster"));
        assert_eq!(e.source_ip, Some("173.234.31.186".parse().unwrap()));
        assert_eq!(e.source_port, Some(38926));
        let e = p("Accepted publickey for fztu from 119.137.62.142 port 49116 ssh2");
        assert_eq!(e.event_action.as_deref(), Some("ssh_accepted_publickey"));
        assert_eq!(e.event_outcome.as_deref(), Some("success"));
        let e = p("message repeated 5 times: [ Failed password for root from 5.188.10.180 port 44430 ssh2]");
        assert_eq!(e.user_name.as_deref(), Some("root"));
    }

    #[test]
    fn invalid_user_and_pam() {
        let e = p("Invalid user webmaster from 173.234.31.186");
        assert_eq!(e.event_action.as_deref(), Some("ssh_invalid_user"));
        assert_eq!(e.user_name.as_deref(), Some("webmaster"));
        let e = p("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=112.95.230.3  user=root");
        assert_eq!(e.source_ip, Some("112.95.230.3".parse().unwrap()));
        assert_eq!(e.user_name.as_deref(), Some("root"));
        let e = p("authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=60-248-20-39.hinet-ip.hinet.net");
        assert_eq!(
            e.related.hosts,
            vec!["60-248-20-39.hinet-ip.hinet.net".to_string()]
        );
        let e = p("reverse mapping checking getaddrinfo for ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!");
        assert_eq!(e.source_ip, Some("173.234.31.186".parse().unwrap()));
        let e = p("Received disconnect from 139.59.209.18: 11: Bye Bye [preauth]");
        assert_eq!(e.source_ip, Some("139.59.209.18".parse().unwrap()));
        let e = p("Connection closed by authenticating user root 10.0.0.9 port 2222 [preauth]");
        assert_eq!(
            (e.user_name.as_deref(), e.source_port),
            (Some("root"), Some(2222))
        );
        assert!(!parse("session opened for user root", &mut Ecs::default()));
    }
}
