//! The event's wire format: the member names of a serialized [`Event`](crate::Event) and the ECS
//! field names of [`Ecs`](crate::Ecs), in one place.
//!
//! Every crate that reads or writes an event's JSON by name (the ingest decoders, the detect
//! worker's payload reader and IOC view, the simulator) takes the names from here. serde
//! attributes cannot name a constant, so the `rename`s of `Event` and `Ecs` restate them; the
//! tests below serialize filled values and fail when the two disagree.

/// `v`: the payload schema version.
pub const MEMBER_V: &str = "v";
/// `id`: the deterministic event id.
pub const MEMBER_ID: &str = "id";
pub const MEMBER_AGENCY: &str = "agency";
pub const MEMBER_SENSOR: &str = "sensor";
pub const MEMBER_DATASET: &str = "dataset";
/// `@timestamp`: the event time.
pub const MEMBER_TIMESTAMP: &str = "@timestamp";
pub const MEMBER_RECEIVED: &str = "received";
pub const MEMBER_SOURCE: &str = "source";
/// `ecs`: the normalised fields, named by [`ecs`]; omitted when empty.
pub const MEMBER_ECS: &str = "ecs";
/// `original`: the record as the source named its fields.
pub const MEMBER_ORIGINAL: &str = "original";

/// The members of a serialized `Event`, in serialization order.
pub const EVENT_MEMBERS: [&str; 10] = [
    MEMBER_V,
    MEMBER_ID,
    MEMBER_AGENCY,
    MEMBER_SENSOR,
    MEMBER_DATASET,
    MEMBER_TIMESTAMP,
    MEMBER_RECEIVED,
    MEMBER_SOURCE,
    MEMBER_ECS,
    MEMBER_ORIGINAL,
];

/// The ECS field names of [`Ecs`](crate::Ecs): the keys of an event's `ecs` member, dotted.
pub mod ecs {
    pub const EVENT_CODE: &str = "event.code";
    pub const EVENT_ACTION: &str = "event.action";
    pub const EVENT_OUTCOME: &str = "event.outcome";
    pub const EVENT_SEVERITY: &str = "event.severity";
    pub const EVENT_PROVIDER: &str = "event.provider";
    pub const MESSAGE: &str = "message";
    pub const LOG_LEVEL: &str = "log.level";
    pub const HOST_NAME: &str = "host.name";
    pub const HOST_IP: &str = "host.ip";
    pub const SOURCE_IP: &str = "source.ip";
    pub const SOURCE_PORT: &str = "source.port";
    pub const DESTINATION_IP: &str = "destination.ip";
    pub const DESTINATION_PORT: &str = "destination.port";
    pub const NETWORK_TRANSPORT: &str = "network.transport";
    pub const NETWORK_PROTOCOL: &str = "network.protocol";
    pub const USER_NAME: &str = "user.name";
    pub const USER_DOMAIN: &str = "user.domain";
    pub const PROCESS_PID: &str = "process.pid";
    pub const PROCESS_EXECUTABLE: &str = "process.executable";
    pub const PROCESS_COMMAND_LINE: &str = "process.command_line";
    pub const PROCESS_PARENT_EXECUTABLE: &str = "process.parent.executable";
    pub const FILE_PATH: &str = "file.path";
    pub const FILE_NAME: &str = "file.name";
    pub const FILE_HASH_MD5: &str = "file.hash.md5";
    pub const FILE_HASH_SHA1: &str = "file.hash.sha1";
    pub const FILE_HASH_SHA256: &str = "file.hash.sha256";
    pub const URL_FULL: &str = "url.full";
    pub const URL_DOMAIN: &str = "url.domain";
    pub const URL_PATH: &str = "url.path";
    pub const URL_QUERY: &str = "url.query";
    pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    pub const HTTP_RESPONSE_BODY_BYTES: &str = "http.response.body.bytes";
    pub const HTTP_REQUEST_REFERRER: &str = "http.request.referrer";
    pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
    pub const DNS_QUESTION_NAME: &str = "dns.question.name";
    pub const TLS_SERVER_SNI: &str = "tls.server.sni";
    pub const EMAIL_FROM_ADDRESS: &str = "email.from.address";
    /// A list of addresses.
    pub const EMAIL_TO_ADDRESS: &str = "email.to.address";
    pub const EMAIL_SUBJECT: &str = "email.subject";
    pub const EMAIL_MESSAGE_ID: &str = "email.message_id";
    /// A list of objects with the members of [`attachment`].
    pub const EMAIL_ATTACHMENTS: &str = "email.attachments";
    pub const RULE_NAME: &str = "rule.name";
    pub const RULE_ID: &str = "rule.id";
    pub const RULE_CATEGORY: &str = "rule.category";
    /// An object with the members of [`related`].
    pub const RELATED: &str = "related";

    /// Every key of the `ecs` member, in serialization order.
    pub const ALL: &[&str] = &[
        EVENT_CODE,
        EVENT_ACTION,
        EVENT_OUTCOME,
        EVENT_SEVERITY,
        EVENT_PROVIDER,
        MESSAGE,
        LOG_LEVEL,
        HOST_NAME,
        HOST_IP,
        SOURCE_IP,
        SOURCE_PORT,
        DESTINATION_IP,
        DESTINATION_PORT,
        NETWORK_TRANSPORT,
        NETWORK_PROTOCOL,
        USER_NAME,
        USER_DOMAIN,
        PROCESS_PID,
        PROCESS_EXECUTABLE,
        PROCESS_COMMAND_LINE,
        PROCESS_PARENT_EXECUTABLE,
        FILE_PATH,
        FILE_NAME,
        FILE_HASH_MD5,
        FILE_HASH_SHA1,
        FILE_HASH_SHA256,
        URL_FULL,
        URL_DOMAIN,
        URL_PATH,
        URL_QUERY,
        HTTP_REQUEST_METHOD,
        HTTP_RESPONSE_STATUS_CODE,
        HTTP_RESPONSE_BODY_BYTES,
        HTTP_REQUEST_REFERRER,
        USER_AGENT_ORIGINAL,
        DNS_QUESTION_NAME,
        TLS_SERVER_SNI,
        EMAIL_FROM_ADDRESS,
        EMAIL_TO_ADDRESS,
        EMAIL_SUBJECT,
        EMAIL_MESSAGE_ID,
        EMAIL_ATTACHMENTS,
        RULE_NAME,
        RULE_ID,
        RULE_CATEGORY,
        RELATED,
    ];

    /// The members of `related` ([`Related`](crate::Related)): lists of what an event mentions.
    pub mod related {
        pub const IP: &str = "ip";
        pub const HOSTS: &str = "hosts";
        pub const HASH: &str = "hash";
        pub const USER: &str = "user";
        pub const URL: &str = "url";

        /// Every member, in serialization order.
        pub const ALL: &[&str] = &[IP, HOSTS, HASH, USER, URL];
    }

    /// The members of one `email.attachments` entry ([`Attachment`](crate::Attachment)).
    pub mod attachment {
        pub const NAME: &str = "name";
        pub const MIME_TYPE: &str = "mime_type";
        pub const SIZE: &str = "size";
        pub const MD5: &str = "md5";
        pub const SHA1: &str = "sha1";
        pub const SHA256: &str = "sha256";

        /// Every member, in serialization order.
        pub const ALL: &[&str] = &[NAME, MIME_TYPE, SIZE, MD5, SHA1, SHA256];
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::json;

    use super::*;
    use crate::event::{
        Attachment, Dataset, Ecs, Event, Related, SourceKind, SourceRef, EVENT_SCHEMA_VERSION,
    };
    use crate::Id;

    fn attachment() -> Attachment {
        Attachment {
            name: Some("a.js".into()),
            mime_type: Some("text/javascript".into()),
            size: 1,
            md5: "m".into(),
            sha1: "s1".into(),
            sha256: "s256".into(),
        }
    }

    fn related() -> Related {
        Related {
            ip: vec!["10.0.0.9".parse().unwrap()],
            hosts: vec!["h".into()],
            hash: vec!["x".into()],
            user: vec!["u".into()],
            url: vec!["http://h/".into()],
        }
    }

    /// Every field set, so that none is skipped.
    fn full_ecs() -> Ecs {
        let s = |v: &str| Some(v.to_string());
        let ip = Some("10.0.0.1".parse().unwrap());
        Ecs {
            event_code: s("4688"),
            event_action: s("a"),
            event_outcome: s("success"),
            event_severity: Some(3),
            event_provider: s("p"),
            message: s("m"),
            log_level: s("info"),
            host_name: s("h"),
            host_ip: ip,
            source_ip: ip,
            source_port: Some(1),
            destination_ip: ip,
            destination_port: Some(2),
            network_transport: s("tcp"),
            network_protocol: s("dns"),
            user_name: s("u"),
            user_domain: s("d"),
            process_pid: Some(4),
            process_executable: s("e"),
            process_command_line: s("c"),
            process_parent_executable: s("pe"),
            file_path: s("/f"),
            file_name: s("f"),
            file_hash_md5: s("m"),
            file_hash_sha1: s("s1"),
            file_hash_sha256: s("s256"),
            url_full: s("http://h/p?q"),
            url_domain: s("h"),
            url_path: s("/p"),
            url_query: s("q"),
            http_request_method: s("GET"),
            http_response_status_code: Some(200),
            http_response_bytes: Some(5),
            http_referrer: s("r"),
            user_agent: s("ua"),
            dns_question_name: s("q.example"),
            tls_sni: s("sni.example"),
            email_from: s("a@x"),
            email_to: vec!["b@y".into()],
            email_subject: s("s"),
            email_message_id: s("<id>"),
            email_attachments: vec![attachment()],
            rule_name: s("r"),
            rule_id: s("1"),
            rule_category: s("c"),
            related: related(),
        }
    }

    #[test]
    fn event_members_are_the_serialized_members_in_order() {
        let event = Event {
            schema: EVENT_SCHEMA_VERSION,
            id: Id::default(),
            agency: "a".into(),
            sensor: "s".into(),
            dataset: Dataset::new(Dataset::JSON),
            timestamp: "2022-04-01T00:00:00Z".parse().unwrap(),
            received: "2022-04-01T00:00:01Z".parse().unwrap(),
            source: SourceRef {
                kind: SourceKind::File,
                name: "f".into(),
                offset: Some(0),
                line: Some(1),
            },
            ecs: full_ecs(),
            original: json!({"a": 1}),
        };
        // A struct serializes its members in declaration order; read them back in that order
        // from the text, not from a map that might sort them.
        let text = serde_json::to_string(&event).unwrap();
        let mut de = serde_json::Deserializer::from_str(&text);
        let order = ordered_keys(&mut de);
        assert_eq!(order, EVENT_MEMBERS, "{text}");
        let distinct: HashSet<_> = EVENT_MEMBERS.iter().collect();
        assert_eq!(distinct.len(), EVENT_MEMBERS.len());
    }

    #[test]
    fn ecs_names_are_the_serialized_keys_in_order() {
        let text = serde_json::to_string(&full_ecs()).unwrap();
        let mut de = serde_json::Deserializer::from_str(&text);
        assert_eq!(ordered_keys(&mut de), ecs::ALL, "{text}");
        let distinct: HashSet<_> = ecs::ALL.iter().collect();
        assert_eq!(distinct.len(), ecs::ALL.len(), "a name is listed twice");
        // Nothing else a decoder or reader could name: an empty Ecs serializes no key.
        assert_eq!(serde_json::to_value(Ecs::default()).unwrap(), json!({}));
    }

    #[test]
    fn related_and_attachment_members_are_the_serialized_keys_in_order() {
        let text = serde_json::to_string(&related()).unwrap();
        let mut de = serde_json::Deserializer::from_str(&text);
        assert_eq!(ordered_keys(&mut de), ecs::related::ALL, "{text}");
        let text = serde_json::to_string(&attachment()).unwrap();
        let mut de = serde_json::Deserializer::from_str(&text);
        assert_eq!(ordered_keys(&mut de), ecs::attachment::ALL, "{text}");
    }

    /// The top-level keys of a JSON object, in the order the text states them.
    fn ordered_keys(de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>) -> Vec<String> {
        use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    out.push(k);
                }
                Ok(out)
            }
        }
        de.deserialize_map(Keys).unwrap()
    }
}
