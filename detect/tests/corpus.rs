//! The whole SigmaHQ corpus loads; placeholder and unsupported rules are rejected by name.

mod common;

use common::*;

#[test]
fn every_rule_of_the_main_folders_loads() {
    // Without placeholder values, the only rejections are rules using `expand`.
    let (_, report) = load(&MAIN_FOLDERS, None);
    let mut p = canhgac_detect::Placeholders::new();
    for r in &report.rejections {
        match &r.reason {
            canhgac_detect::Reject::Placeholder(name) => {
                p.insert(name.clone(), vec![format!("{name}-value")])
            }
            other => panic!("{}: {other}", r.path.display()),
        }
    }
    // With them configured, every rule loads.
    let (engine, report) = load(&MAIN_FOLDERS, Some(p));
    for r in &report.rejections {
        eprintln!("rejected: {r}");
    }
    assert!(
        report.rejections.is_empty(),
        "{} rules rejected",
        report.rejections.len()
    );
    assert_eq!(engine.len(), report.rules);
    assert!(engine.len() >= 3700, "only {} rules", engine.len());
    eprintln!(
        "{} rules loaded in {:?}; stats {:?}",
        engine.len(),
        report.elapsed,
        engine.stats()
    );
    for (ls, n) in &report.unrouted {
        eprintln!("unrouted: {ls} ({n})");
    }
}

#[test]
fn placeholder_rules_need_configuration() {
    let (engine, report) = load(&["rules-placeholder"], None);
    assert_eq!(
        engine.len(),
        0,
        "no placeholder rule may load without values"
    );
    assert!(!report.rejections.is_empty());
    for r in &report.rejections {
        assert_eq!(r.reason.kind(), "placeholder", "{r}");
    }
    let (engine, report) = load(&["rules-placeholder"], Some(placeholders()));
    for r in &report.rejections {
        eprintln!("rejected: {r}");
    }
    assert!(report.rejections.is_empty());
    assert!(engine.len() >= 20);
}

/// Files in `unsupported/` that are ordinary detection rules: `status: experimental`, no
/// legacy construct. SigmaHQ parks them for semantic reasons (fields their logsource does not
/// carry: `IntegrityLevel`/`FileMagicBytes` on file events, `ParentImage` on network
/// connections, `cmdline` on auditd SYSCALL records), which no syntax check can see. They load.
const ORDINARY_RULES_IN_UNSUPPORTED: [&str; 4] = [
    "file_event_executable_and_script_creation_by_office_using_file_ext.yml",
    "sysmon_non_priv_program_files_move.yml",
    "win_suspicious_werfault_connection_outbound.yml",
    "lnx_auditd_omigod_scx_runasprovider_executescript.yml",
];

#[test]
fn unsupported_rules_are_rejected_with_a_reason() {
    let dir = sigma_dir().join("rules/unsupported");
    let mut files = 0;
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().and_then(|e| e.to_str()) != Some("yml") {
                continue;
            }
            files += 1;
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if ORDINARY_RULES_IN_UNSUPPORTED.contains(&name) {
                let mut b = canhgac_detect::EngineBuilder::new(canhgac_detect::Mappings::builtin());
                b.add_path(&p).unwrap();
                assert_eq!(b.build().0.len(), 1, "{name} is an ordinary rule and loads");
                continue;
            }
            let mut b = canhgac_detect::EngineBuilder::new(canhgac_detect::Mappings::builtin());
            b.add_path(&p).unwrap();
            let (engine, report) = b.build();
            assert_eq!(engine.len(), 0, "{} loaded", p.display());
            assert!(
                !report.rejections.is_empty(),
                "{}: nothing rejected",
                p.display()
            );
            for r in &report.rejections {
                assert!(
                    matches!(
                        r.reason.kind(),
                        "aggregation"
                            | "near"
                            | "collection"
                            | "correlation"
                            | "status-unsupported"
                    ),
                    "{r}"
                );
            }
        }
    }
    assert!(files >= 80, "{files} files");
}
