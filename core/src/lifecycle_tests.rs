use super::*;

fn actor(name: &str, role: &str) -> Actor {
    Actor {
        name: name.into(),
        role: role.into(),
    }
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn rec(t: &str, action: Action) -> IncidentEvent {
    IncidentEvent::new(
        Id([1; 16]),
        Id([2; 16]),
        "byt",
        at(t),
        actor("Lan", "agency:byt"),
        action,
        None,
    )
}

#[test]
fn the_embedded_policy_loads_and_names_every_action_and_reason() {
    let p = Policy::default();
    assert!(p.permits("national", ActionKind::Merge));
    assert!(p.permits("agency:byt", ActionKind::Resolve));
    assert!(!p.permits("manager", ActionKind::Comment));
    assert!(!p.permits("manager:byt", ActionKind::Acknowledge));
    assert_eq!(
        p.uncounted(),
        vec![CloseReason::FalsePositive, CloseReason::Duplicate]
    );
    assert!(p.may_suppress(CloseReason::FalsePositive));
    assert!(!p.may_suppress(CloseReason::Handled));
}

#[test]
fn a_policy_missing_an_action_or_naming_an_unknown_role_is_refused_with_the_key() {
    let without = DEFAULT_POLICY.replace("[actions.split]", "[actions.splitx]");
    let e = Policy::from_toml(&without, "p.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.toml: "), "{e}");
    let unknown = DEFAULT_POLICY.replace("manager = []", "boss = []");
    let e = Policy::from_toml(&unknown, "p.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("roles.boss"), "{e}");
}

#[test]
fn the_fold_is_the_same_in_any_order_and_counts_a_repeat_once() {
    let p = Policy::default();
    let records = vec![
        rec(
            "2026-10-01T01:00:00Z",
            Action::Acknowledge {
                note: String::new(),
            },
        ),
        rec(
            "2026-10-01T02:00:00Z",
            Action::Assign {
                to: Some("Lan".into()),
            },
        ),
        rec(
            "2026-10-01T03:00:00Z",
            Action::Comment {
                text: "quét từ dải nội bộ".into(),
            },
        ),
        rec(
            "2026-10-01T04:00:00Z",
            Action::Resolve {
                reason: CloseReason::FalsePositive,
                note: "administrator's scan".into(),
                duplicate_of: None,
            },
        ),
    ];
    let forward = Handling::fold(&records, &p);
    let mut backward: Vec<IncidentEvent> = records.iter().rev().cloned().collect();
    backward.push(records[1].clone());
    assert_eq!(Handling::fold(&backward, &p), forward);
    assert_eq!(forward.status, Status::Resolved);
    assert_eq!(forward.close_reason, Some(CloseReason::FalsePositive));
    assert_eq!(forward.assignee.as_deref(), Some("Lan"));
    assert!(!forward.counted);
    assert_eq!(forward.history.len(), 4);
}

#[test]
fn transitions_follow_the_policy() {
    let p = Policy::default();
    // (records in order, status after, counted after)
    let resolve = |r| Action::Resolve {
        reason: r,
        note: String::new(),
        duplicate_of: None,
    };
    let reopen = Action::Reopen {
        note: String::new(),
    };
    let ack = Action::Acknowledge {
        note: String::new(),
    };
    let table: Vec<(Vec<Action>, Status, bool)> = vec![
        (vec![], Status::New, true),
        (vec![ack.clone()], Status::Acknowledged, true),
        (vec![resolve(CloseReason::Handled)], Status::Resolved, true),
        (
            vec![resolve(CloseReason::Duplicate)],
            Status::Resolved,
            false,
        ),
        (
            vec![resolve(CloseReason::FalsePositive), reopen.clone()],
            Status::Acknowledged,
            true,
        ),
        // Acknowledging a resolved incident changes nothing.
        (
            vec![resolve(CloseReason::Benign), ack.clone()],
            Status::Resolved,
            true,
        ),
        // A second resolve of a resolved incident changes nothing either.
        (
            vec![
                resolve(CloseReason::Handled),
                resolve(CloseReason::FalsePositive),
            ],
            Status::Resolved,
            true,
        ),
    ];
    for (i, (actions, status, counted)) in table.into_iter().enumerate() {
        let records: Vec<IncidentEvent> = actions
            .into_iter()
            .enumerate()
            .map(|(k, a)| rec(&format!("2026-10-01T0{k}:00:00Z"), a))
            .collect();
        let h = Handling::fold(&records, &p);
        assert_eq!((h.status, h.counted), (status, counted), "case {i}");
    }
}

#[test]
fn checks_name_the_role_the_status_and_the_field() {
    let p = Policy::default();
    let comment = Action::Comment { text: "x".into() };
    assert_eq!(
        p.check("manager", Status::New, &comment)
            .unwrap_err()
            .to_string(),
        "a manager token may not comment incidents"
    );
    let reopen = Action::Reopen {
        note: String::new(),
    };
    assert_eq!(
        p.check("national", Status::New, &reopen)
            .unwrap_err()
            .to_string(),
        "cannot reopen an incident that is new"
    );
    let dup = Action::Resolve {
        reason: CloseReason::Duplicate,
        note: String::new(),
        duplicate_of: None,
    };
    assert!(p
        .check("national", Status::New, &dup)
        .unwrap_err()
        .to_string()
        .contains("duplicate_of"));
    let empty = Action::Comment { text: " ".into() };
    assert!(p.check("agency:byt", Status::New, &empty).is_err());
}

#[test]
fn ids_are_deterministic_and_an_idempotency_key_makes_a_retry_the_same_record() {
    let a = rec("2026-10-01T01:00:00Z", Action::Comment { text: "x".into() });
    let b = rec("2026-10-01T01:00:00Z", Action::Comment { text: "x".into() });
    let c = rec("2026-10-01T01:00:01Z", Action::Comment { text: "x".into() });
    assert_eq!(a.id, b.id);
    assert_ne!(a.id, c.id);
    let k = |t: &str| {
        IncidentEvent::new(
            Id([1; 16]),
            Id([2; 16]),
            "byt",
            at(t),
            actor("Lan", "agency:byt"),
            Action::Comment { text: "x".into() },
            Some("req-1"),
        )
        .id
    };
    assert_eq!(k("2026-10-01T01:00:00Z"), k("2026-10-01T01:00:09Z"));
}

#[test]
fn records_round_trip_and_other_schemas_are_refused() {
    let s = Suppression {
        id: suppression_id(
            "r1",
            "byt",
            &EntityRef {
                kind: "ip".into(),
                value: "10.0.0.5".into(),
            },
            at("2026-10-01T00:00:00Z"),
        ),
        rule: "r1".into(),
        agency: "byt".into(),
        entity: EntityRef {
            kind: "ip".into(),
            value: "10.0.0.5".into(),
        },
        owner: "Lan".into(),
        reason: "vulnerability scanner".into(),
        created: at("2026-10-01T00:00:00Z"),
        expires: at("2026-11-01T00:00:00Z"),
    };
    assert!(s.active_at(at("2026-10-15T00:00:00Z")));
    assert!(!s.active_at(at("2026-11-01T00:00:00Z")));
    let e = rec("2026-10-01T05:00:00Z", Action::Suppress { suppression: s });
    let json = e.to_json();
    assert_eq!(IncidentEvent::from_json(&json).unwrap(), e);
    let text = String::from_utf8(json).unwrap();
    assert!(text.contains("\"action\":\"suppress\""), "{text}");
    let other = text.replace("\"v\":1", "\"v\":9");
    assert!(IncidentEvent::from_json(other.as_bytes())
        .unwrap_err()
        .contains("schema 9"));
}
