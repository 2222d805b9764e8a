//! Fixtures for tests and benchmarks (feature `testsuite`): the third-party data directory
//! next to the workspace, the SigmaHQ corpus loaded with placeholder values, regression cases,
//! events built from a record, the table runners' assertion, and a minimal record reader
//! ([`read`]). Not part of the engine's API: the product never calls these.

use std::path::PathBuf;

use crate::{Engine, EngineBuilder, LoadReport, Mappings, Placeholders};
use canhgac_core::event::{Dataset, Event, SourceKind, SourceRef, EVENT_SCHEMA_VERSION};
use serde_json::Value;

mod read;
pub use read::{guess_dataset, read_events, record_to_event};

/// `../shared/data` resolved from the workspace root (the one helper every crate's tests share);
/// panics with a clear message if absent.
pub use canhgac_testsupport::data_dir;

pub fn sigma_dir() -> PathBuf {
    data_dir().join("sigma")
}

pub const MAIN_FOLDERS: [&str; 4] = [
    "rules",
    "rules-emerging-threats",
    "rules-threat-hunting",
    "rules-compliance",
];

/// Values for every placeholder `rules-placeholder/` uses (networks for the IP ones).
pub fn placeholders() -> Placeholders {
    let mut p = Placeholders::new();
    for name in [
        "Administrators",
        "Admins_Workstations",
        "ApprovedUserUpn",
        "Approved_Inviters",
        "DC-MACHINE-NAME",
        "DomainControllers",
        "HomeTenantID",
        "Important_AppIds",
        "KNOWN_LOCATION",
        "Known_Location",
        "Legitimate_Countries",
        "ServerSystems",
        "UnApprovedDevice",
        "UnLegitCountries",
        "Workstations",
        "dc_machine_accounts",
        "domain_controller_hostnames",
        "internal_domains",
        "legtimate_identifiers",
        "userdomain",
    ] {
        p.insert(name, vec![format!("{}-value*", name.to_lowercase())]);
    }
    for name in [
        "Legitimate_IP_Ranges",
        "UnApprovedIp",
        "dc_ip_addresses",
        "legit_ips",
    ] {
        p.insert(name, vec!["10.0.0.0/8".into(), "192.168.1.1".into()]);
    }
    p
}

/// Loads the given folders under `sigma/rules/`.
pub fn load(folders: &[&str], placeholders: Option<Placeholders>) -> (Engine, LoadReport) {
    let mut b = EngineBuilder::new(Mappings::builtin());
    if let Some(p) = placeholders {
        b = b.placeholders(p);
    }
    for f in folders {
        b.add_path(&sigma_dir().join("rules").join(f))
            .expect("rules folder readable");
    }
    b.build()
}

/// An event of `dataset` around `original`, every other field a fixed placeholder.
pub fn event(dataset: &str, original: Value) -> Event {
    Event {
        schema: EVENT_SCHEMA_VERSION,
        id: Default::default(),
        agency: "a".into(),
        sensor: "s".into(),
        dataset: Dataset::new(dataset),
        timestamp: "2024-01-01T00:00:00Z".parse().unwrap(),
        received: "2024-01-01T00:00:00Z".parse().unwrap(),
        source: SourceRef {
            kind: SourceKind::File,
            name: "t".into(),
            offset: None,
            line: None,
        },
        ecs: Default::default(),
        original,
    }
}

/// Fails with every failed case listed, `n of total cases failed`, if any failed.
pub fn assert_all_passed(failed: &[String], total: usize) {
    assert!(
        failed.is_empty(),
        "{} of {total} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
