//! The whole SigmaHQ corpus loads; placeholder and unsupported rules are rejected by name, and
//! rules naming fields their logsource does not carry are rejected or (enrichment) warned about.

use canhgac_sigma::testsuite as common;

use common::*;

#[test]
fn every_rule_of_the_main_folders_loads() {
    // Without placeholder values, the only rejections are the 2 rules using `expand`
    // (`%known_cdcs%`): 3,755 of 3,757 files load, the field schemas reject none.
    let (engine, report) = load(&MAIN_FOLDERS, None);
    assert_eq!(
        (report.files, engine.len(), report.rejections.len()),
        (3757, 3755, 2)
    );
    let mut p = canhgac_sigma::Placeholders::new();
    for r in &report.rejections {
        match &r.reason {
            canhgac_sigma::Reject::Placeholder(name) => {
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

/// Rules of the main folders that name fields plain Sysmon events do not carry, only sensors
/// that enrich them with process context (Aurora, EDRs; a mapping entry's `fields_enriched`):
/// they load with a warning, and are rejected (`enrichment-field`) under `strict_fields`.
/// Many say so in `logsource.definition` ("Requirements: … enrichment").
const ENRICHMENT_RULES: [(&str, &str); 20] = [
    ("rules-emerging-threats/2023/Malware/Pikabot/net_connection_win_malware_pikabot_rundll32_activity.yml", "ParentImage"),
    ("rules-emerging-threats/2023/Malware/Pikabot/proc_creation_win_malware_pikabot_discovery.yml", "GrandParentImage"),
    ("rules-emerging-threats/2026/Exploits/RedSun/proc_creation_win_redsun_conhost_via_tiering_engine.yml", "GrandParentImage"),
    ("rules-threat-hunting/windows/create_remote_thread/create_remote_thread_win_powershell_generic.yml", "SourceParentImage"),
    ("rules-threat-hunting/windows/file/file_event/file_event_win_wdac_policy_creation_in_codeintegrity_folder.yml", "IntegrityLevel"),
    ("rules-threat-hunting/windows/image_load/image_load_dll_dbghelp_dbgcore_susp_load.yml", "CommandLine"),
    ("rules-threat-hunting/windows/process_access/proc_access_win_lsass_uncommon_access_flag.yml", "SourceCommandLine"),
    ("rules/windows/create_remote_thread/create_remote_thread_win_susp_uncommon_source_image.yml", "TargetParentProcessId"),
    ("rules/windows/file/file_event/file_event_win_exchange_webshell_drop.yml", "CommandLine"),
    ("rules/windows/file/file_event/file_event_win_exchange_webshell_drop_suspicious.yml", "CommandLine"),
    ("rules/windows/file/file_event/file_event_win_net_cli_artefact.yml", "ParentImage"),
    ("rules/windows/file/file_event/file_event_win_ntds_dit_uncommon_parent_process.yml", "ParentImage"),
    ("rules/windows/file/file_event/file_event_win_office_macro_files_from_susp_process.yml", "ParentImage"),
    ("rules/windows/file/file_event/file_event_win_susp_wdac_policy_creation.yml", "CommandLine"),
    ("rules/windows/image_load/image_load_dll_vss_ps_susp_load.yml", "CommandLine"),
    ("rules/windows/image_load/image_load_wsman_provider_image_load.yml", "CommandLine"),
    ("rules/windows/network_connection/net_connection_win_python.yml", "ParentImage"),
    ("rules/windows/network_connection/net_connection_win_rundll32_net_connections.yml", "CommandLine"),
    ("rules/windows/network_connection/net_connection_win_susp_binary_no_cmdline.yml", "CommandLine"),
    ("rules/windows/network_connection/net_connection_win_wuauclt_network_connection.yml", "CommandLine"),
];

/// `path` relative to `sigma/rules/`.
fn rel(path: &std::path::Path) -> String {
    path.strip_prefix(sigma_dir().join("rules"))
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn enrichment_rules_warn_or_are_rejected_when_strict() {
    let expected: Vec<String> = ENRICHMENT_RULES
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    // Default: they load, each with one warning naming its fields.
    let (_, report) = load(&MAIN_FOLDERS, None);
    let mut warned: Vec<String> = report
        .warnings
        .iter()
        .filter(|w| w.contains("only by enriched events"))
        .map(|w| {
            let path = w.split(" (").next().unwrap_or_default();
            rel(std::path::Path::new(path))
        })
        .collect();
    warned.sort();
    assert_eq!(warned, expected);
    // Strict: they are rejected, naming the first such field; nothing else changes.
    let mut b =
        canhgac_sigma::EngineBuilder::new(canhgac_sigma::Mappings::builtin()).strict_fields(true);
    for f in MAIN_FOLDERS {
        b.add_path(&sigma_dir().join("rules").join(f)).unwrap();
    }
    let (engine, report) = b.build();
    let mut rejected = Vec::new();
    for r in &report.rejections {
        match r.reason.kind() {
            "placeholder" => {}
            "enrichment-field" => rejected.push((rel(&r.path), r.reason.to_string())),
            other => panic!("{r}: {other}"),
        }
    }
    rejected.sort();
    assert_eq!(rejected.len(), ENRICHMENT_RULES.len());
    for ((path, reason), (want_path, field)) in rejected.iter().zip(ENRICHMENT_RULES) {
        assert_eq!(path, want_path);
        assert!(
            reason.contains(&format!("field `{field}` is not carried by")),
            "{reason}"
        );
    }
    assert_eq!(engine.len(), report.files - 2 - ENRICHMENT_RULES.len());
}

/// Files in `unsupported/` that are ordinary detection rules (`status: experimental`, no legacy
/// construct) parked by SigmaHQ because they name fields their logsource does not carry. The
/// field schemas of `rules/mappings/` reject them: `FileName`/`FileMagicBytes` and auditd
/// `cmdline` are in no schema; `IntegrityLevel` on file events and `ParentImage` on network
/// connections are process context only enriching sensors add — as in 20 rules of the main
/// folders (`ENRICHMENT_RULES`), so these two load with a warning unless `strict_fields`.
const UNKNOWN_FIELD_RULES_IN_UNSUPPORTED: [(&str, &str); 2] = [
    (
        "file_event_executable_and_script_creation_by_office_using_file_ext.yml",
        "field `FileName` is not carried by windows/file_event (rules/mappings/windows.yml: Sysmon EventID 11 (FileCreate))",
    ),
    (
        "lnx_auditd_omigod_scx_runasprovider_executescript.yml",
        "field `cmdline` is not carried by linux/auditd (rules/mappings/linux.yml: auditd record fields",
    ),
];
const ENRICHMENT_RULES_IN_UNSUPPORTED: [(&str, &str); 2] = [
    (
        "sysmon_non_priv_program_files_move.yml",
        "field `IntegrityLevel` is not carried by windows/file_event",
    ),
    (
        "win_suspicious_werfault_connection_outbound.yml",
        "field `ParentImage` is not carried by windows/network_connection",
    ),
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
            let build = |strict: bool| {
                let mut b = canhgac_sigma::EngineBuilder::new(canhgac_sigma::Mappings::builtin())
                    .strict_fields(strict);
                b.add_path(&p).unwrap();
                b.build()
            };
            // Under `strict_fields`, every file is rejected, each document with its reason.
            let (engine, report) = build(true);
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
                            | "unknown-field"
                            | "enrichment-field"
                    ),
                    "{r}"
                );
            }
            let field_reject = report
                .rejections
                .iter()
                .find(|r| matches!(r.reason.kind(), "unknown-field" | "enrichment-field"));
            let unknown = UNKNOWN_FIELD_RULES_IN_UNSUPPORTED
                .iter()
                .find(|(n, _)| *n == name);
            let enriched = ENRICHMENT_RULES_IN_UNSUPPORTED
                .iter()
                .find(|(n, _)| *n == name);
            match (field_reject, unknown.or(enriched)) {
                (Some(r), Some((_, want))) => {
                    assert!(r.reason.to_string().contains(want), "{r}")
                }
                (None, None) => {}
                (got, want) => panic!("{name}: field rejection {got:?}, expected {want:?}"),
            }
            // By default, the same, except the two that need enrichment: loaded, with a warning.
            let (engine, report) = build(false);
            if let Some((_, want)) = enriched {
                assert_eq!(engine.len(), 1, "{name}");
                assert!(report.rejections.is_empty(), "{name}");
                assert!(
                    report.warnings.iter().any(|w| w.contains(want)),
                    "{name}: {:?}",
                    report.warnings
                );
            } else {
                assert_eq!(engine.len(), 0, "{} loaded", p.display());
            }
        }
    }
    assert_eq!(files, 87);
}
