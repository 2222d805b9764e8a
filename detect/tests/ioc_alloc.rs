//! `IocSet::matches` allocates nothing when nothing matches: a counting global allocator
//! around a pass over non-matching events of every field kind. The count is per thread, so
//! the other tests of this binary, running on other threads, do not disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use canhgac_core::{Attachment, Ecs, Event, Related};
use canhgac_detect::ioc::{IocLoader, ListFormat};
use serde_json::json;

struct Counting;

thread_local! {
    /// Allocations made by this thread (const-initialised, no destructor: safe to touch from
    /// inside the allocator).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn no_allocation_without_a_match() {
    let mut l = IocLoader::new();
    l.add_text(
        "c2",
        "c2",
        ListFormat::Plain,
        "evil.example\n45.9.148.7\n185.220.101.0/24\n2a0d:5600:bad::/48\n91.92.240.10:8443\n\
         bad.example/gate\n/wp-admin/x.php\nb2b51a85bdad70ff19534cd013c07f24\nceo@lure.example\n",
    )
    .unwrap();
    l.add_text(
        "rx",
        "malware",
        ListFormat::Maltrail,
        "q(l|r)[0-9]{5,6}\\.pw\n",
    )
    .unwrap();
    l.add_text(
        "allow",
        "allowlist",
        ListFormat::Warninglist,
        r#"{"name":"private","type":"cidr","list":["10.0.0.0/8"]}"#,
    )
    .unwrap();
    let (set, _) = l.build();
    let mut ev: Event = serde_json::from_value(json!({
        "v": 1, "id": "00000000000000000000000000000000", "agency": "a", "sensor": "s",
        "dataset": "json", "@timestamp": "2024-04-01T00:00:00Z",
        "received": "2024-04-01T00:00:00Z", "source": {"kind": "file", "name": "t"},
        "original": {}
    }))
    .unwrap();
    ev.ecs = Ecs {
        source_ip: Some("10.1.2.3".parse().unwrap()),
        source_port: Some(51000),
        destination_ip: Some("2a0d:5600:bae::1".parse().unwrap()),
        destination_port: Some(8443),
        dns_question_name: Some("www.Not-Evil.example.".into()),
        tls_sni: Some("cdn.example.org".into()),
        url_full: Some("HTTPS://user@Good.example:8443/wp-admin/y.php?a=1#f".into()),
        file_hash_sha256: Some(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        ),
        email_from: Some("<hr@corp.example>".into()),
        email_attachments: vec![Attachment {
            size: 1,
            md5: "0123456789abcdef0123456789abcdef".into(),
            ..Default::default()
        }],
        related: Related {
            ip: vec!["8.8.8.8".parse().unwrap()],
            hosts: vec!["mail.corp.example".into(), "1.1.1.1".into()],
            hash: vec!["da39a3ee5e6b4b0d3255bfef95601890afd80709".into()],
            url: vec!["http://[2001:db8::1]:8080/x".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let mut out = Vec::with_capacity(4);
    // Warm up (the regex set's per-thread cache is built on first use).
    assert_eq!(set.matches(&ev, &mut out), 0);
    assert!(out.is_empty());
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        set.matches(&ev, &mut out);
    }
    let after = ALLOCATIONS.with(Cell::get);
    assert!(out.is_empty());
    assert_eq!(after - before, 0, "allocations on the no-match path");
    // A match allocates (the match itself), as it may.
    ev.ecs.dns_question_name = Some("x.evil.example".into());
    set.matches(&ev, &mut out);
    assert_eq!(out.len(), 1);
}
