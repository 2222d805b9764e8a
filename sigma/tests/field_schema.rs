//! Field schemas of logsources (`schemas`, `fields_known`, `fields_enriched` in the mapping
//! files): table-driven cases (logsource + detection → loads, warns or is rejected with the
//! reason), against one test mapping; the corpus side is in `corpus.rs`.

use canhgac_sigma::mapping::MappingFile;
use canhgac_sigma::{EngineBuilder, LoadReport, Mappings};
use serde_json::json;

use canhgac_sigma::testsuite as common;

const MAPPING: &str = r#"
datasets: [test]
layout: flat
schemas:
  system: {from: test System, fields: [EventID, Channel]}
  ev1: {from: Test EventID 1, fields: [Image, CommandLine, ParentImage]}
  ev11: {from: Test EventID 11, fields: [Image, TargetFilename, User]}
  ev4688: {from: Test EventID 4688, fields: [NewProcessName, CommandLine]}
  auditd: {from: auditd records, fields: [type, a0, exe, proctitle]}
  ctx: {from: process context, fields: [IntegrityLevel, ParentImage, CommandLine]}
fields_always: [system]
logsources:
  - logsource: {product: windows, category: file_event}
    when: [{EventID: 11}]
    fields_known: [ev11]
    fields_enriched: [ctx]
  - logsource: {product: windows, category: process_creation}
    when: [{EventID: 1}, {EventID: 4688, fieldmap: {ProcessName: NewProcessName}}]
    fields_known: [ev1, ev4688]
  # no schema: not checked
  - logsource: {product: windows, category: unchecked}
    when: [{EventID: 99}]
  # two entries for one logsource, one without a schema: not checked
  - logsource: {product: windows, category: half}
    when: [{EventID: 98}]
    fields_known: [ev11]
  - logsource: {product: windows, category: half}
    when: [{EventID: 97}]
  # an exact entry with a schema, and a catch-all without one that also routes its rules
  - logsource: {product: linux, service: auditd}
    when: [{dataset: test}]
    fields_known: [auditd]
  - logsource: {product: linux, service: '*'}
"#;

fn mappings() -> Mappings {
    let f = MappingFile::from_yaml(MAPPING, "test/windows.yml").expect("test mapping");
    Mappings { files: vec![f] }
}

/// A rule on `logsource` with the given `detection` block.
fn rule_yaml(logsource: &str, detection: &str) -> String {
    let body: String = detection.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "title: test rule\nid: 00000000-0000-0000-0000-000000000001\nlogsource: {logsource}\n\
         detection:\n{body}"
    )
}

fn load(text: String, strict: bool) -> (canhgac_sigma::Engine, LoadReport) {
    let mut b = EngineBuilder::new(mappings()).strict_fields(strict);
    b.add_source("test.yml", text);
    b.build()
}

#[derive(Debug)]
enum Expect {
    /// Loads without a field warning.
    Loads,
    /// Loads with one warning containing these.
    Warns(&'static [&'static str]),
    /// Rejected: the kind and words of the message.
    Rejected(&'static str, &'static [&'static str]),
}

struct Case {
    name: &'static str,
    logsource: &'static str,
    detection: &'static str,
    strict: bool,
    expect: Expect,
}

macro_rules! case {
    ($name:expr, $ls:expr, $det:expr => $expect:expr) => {
        Case {
            name: $name,
            logsource: $ls,
            detection: $det,
            strict: false,
            expect: $expect,
        }
    };
    (strict $name:expr, $ls:expr, $det:expr => $expect:expr) => {
        Case {
            name: $name,
            logsource: $ls,
            detection: $det,
            strict: true,
            expect: $expect,
        }
    };
}

const FILE: &str = "{product: windows, category: file_event}";
const PROC: &str = "{product: windows, category: process_creation}";
const UNCHECKED: &str = "{product: windows, category: unchecked}";
const HALF: &str = "{product: windows, category: half}";
const AUDITD: &str = "{product: linux, service: auditd}";
const SSHD: &str = "{product: linux, service: sshd}";

fn run(cases: &[Case]) {
    let mut failed = Vec::new();
    for c in cases {
        let (engine, report) = load(rule_yaml(c.logsource, c.detection), c.strict);
        let warnings: Vec<&String> = report
            .warnings
            .iter()
            .filter(|w| w.contains("field"))
            .collect();
        let got = match report.rejections.first() {
            Some(r) => format!("rejected {}: {}", r.reason.kind(), r.reason),
            None if !warnings.is_empty() => format!("warns: {warnings:?}"),
            None => "loads".to_string(),
        };
        let ok = match &c.expect {
            Expect::Loads => engine.len() == 1 && warnings.is_empty(),
            Expect::Warns(words) => {
                engine.len() == 1
                    && warnings.len() == 1
                    && words.iter().all(|w| warnings[0].contains(w))
            }
            Expect::Rejected(kind, words) => {
                engine.is_empty()
                    && report.rejections.len() == 1
                    && report.rejections[0].reason.kind() == *kind
                    && words
                        .iter()
                        .all(|w| report.rejections[0].reason.to_string().contains(w))
            }
        };
        if !ok {
            failed.push(format!("{}: expected {:?}, got {got}", c.name, c.expect));
        }
    }
    common::assert_all_passed(&failed, cases.len());
}

#[test]
fn fields_against_the_schema() {
    run(&[
        case!("known fields", FILE, "sel:\n    Image|endswith: '\\winword.exe'\n    TargetFilename|endswith: '.exe'\ncondition: sel" => Expect::Loads),
        case!("fields_always (System) are known", FILE, "sel:\n    EventID: 11\n    Channel: x\n    User: y\ncondition: sel" => Expect::Loads),
        case!("unknown field rejected, named with logsource and schema", FILE, "sel:\n    Image|endswith: '\\winword.exe'\nmagic:\n    FileMagicBytes|startswith: 4D5A\ncondition: sel and magic" =>
            Expect::Rejected("unknown-field", &["field `FileMagicBytes` is not carried by windows/file_event (test/windows.yml: Test EventID 11)"])),
        case!("unknown field in a filter is rejected too", FILE, "sel:\n    Image: x\nfilter:\n    FileName: y\ncondition: sel and not filter" =>
            Expect::Rejected("unknown-field", &["`FileName`"])),
        case!("unknown field in one OR alternative", FILE, "sel:\n    - Image: x\n    - FileName: y\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["`FileName`"])),
        case!("the first unknown field is named", FILE, "sel:\n    FileName: x\n    FileMagicBytes: y\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["`FileName`"])),
        case!("modifiers are not part of the name", FILE, "sel:\n    TargetFilename|contains|all: [a, b]\ncondition: sel" => Expect::Loads),
        case!("keyword-only rule has no fields", FILE, "keywords:\n    - 'FileMagicBytes'\ncondition: keywords" => Expect::Loads),
        case!("keyword item `|all` has no field", FILE, "keywords:\n    '|all': [a, b]\ncondition: keywords" => Expect::Loads),
        case!("null value still names the field", FILE, "sel:\n    Image: x\nfilter:\n    FileName: null\ncondition: sel and not filter" =>
            Expect::Rejected("unknown-field", &["`FileName`"])),
    ]);
}

#[test]
fn which_entries_are_checked() {
    run(&[
        case!("same rule on a logsource without schema loads", UNCHECKED, "sel:\n    FileMagicBytes|startswith: 4D5A\ncondition: sel" => Expect::Loads),
        case!("an applying entry without schema: not checked", HALF, "sel:\n    FileMagicBytes: x\ncondition: sel" => Expect::Loads),
        case!("unrouted logsource: not checked", "{product: nowhere}", "sel:\n    Anything: x\ncondition: sel" => Expect::Loads),
        case!("union of the entry's schemas (4688 field)", PROC, "sel:\n    NewProcessName|endswith: '\\cmd.exe'\n    ParentImage: x\ncondition: sel" => Expect::Loads),
        case!("fieldmap's Sigma side is known", PROC, "sel:\n    ProcessName: x\ncondition: sel" => Expect::Loads),
        case!("fieldmap's event side is not a Sigma field", PROC, "sel:\n    ParentProcessName: x\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["`ParentProcessName`", "windows/process_creation", "test/windows.yml: Test EventID 1, Test EventID 4688"])),
        case!("exact entry checked although a catch-all routes it too", AUDITD, "sel:\n    type: EXECVE\n    cmdline|contains: x\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["field `cmdline` is not carried by linux/auditd (test/windows.yml: auditd records)"])),
        case!("auditd fields known", AUDITD, "sel:\n    type: EXECVE\n    a0: x\n    proctitle: y\ncondition: sel" => Expect::Loads),
        case!("only the catch-all applies: not checked", SSHD, "sel:\n    USER: x\ncondition: sel" => Expect::Loads),
    ]);
}

#[test]
fn fieldref_targets() {
    run(&[
        case!("fieldref to a known field", PROC, "sel:\n    Image|fieldref: ParentImage\ncondition: sel" => Expect::Loads),
        case!("fieldref to an unknown field", PROC, "sel:\n    Image|fieldref: GrandParentImage\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["field `GrandParentImage` is not carried by windows/process_creation"])),
        case!("fieldref list, one unknown", PROC, "sel:\n    Image|fieldref|startswith: [CommandLine, ParentCmd]\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["`ParentCmd`"])),
        case!("fieldref target on an unchecked logsource", UNCHECKED, "sel:\n    Image|fieldref: Whatever\ncondition: sel" => Expect::Loads),
    ]);
}

#[test]
fn names_compare_case_sensitively_like_the_engine() {
    run(&[
        case!("exact case", PROC, "sel:\n    CommandLine|contains: whoami\ncondition: sel" => Expect::Loads),
        case!("lower case is another field", PROC, "sel:\n    commandline|contains: whoami\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["`commandline`"])),
        case!("upper case is another field", AUDITD, "sel:\n    TYPE: EXECVE\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["`TYPE`"])),
        case!("case of fieldref targets", PROC, "sel:\n    Image|fieldref: parentimage\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["`parentimage`"])),
    ]);
    // Why: the engine looks field names up exactly, so `commandline` never sees `CommandLine`.
    let fires = |field: &str| {
        let det = format!("sel:\n    {field}|contains: whoami\ncondition: sel");
        let (engine, report) = load(rule_yaml(UNCHECKED, &det), false);
        assert!(report.rejections.is_empty(), "{:?}", report.rejections);
        let mut s = engine.scratch();
        !engine
            .matches(
                &common::event(
                    "test",
                    json!({"EventID": 99, "CommandLine": "cmd /c whoami"}),
                ),
                &mut s,
            )
            .is_empty()
    };
    assert!(fires("CommandLine"));
    assert!(!fires("commandline"));
}

#[test]
fn enrichment_fields_warn_or_are_rejected_when_strict() {
    run(&[
        case!("enrichment field warns", FILE, "sel:\n    TargetFilename|contains: '\\Program Files\\'\n    IntegrityLevel: Medium\ncondition: sel" =>
            Expect::Warns(&["field `IntegrityLevel` is not carried by windows/file_event (test/windows.yml: Test EventID 11), only by enriched events (test/windows.yml: process context)"])),
        case!("several enrichment fields, one warning", FILE, "sel:\n    Image: x\nfilter:\n    ParentImage: y\n    CommandLine: z\ncondition: sel and not filter" =>
            Expect::Warns(&["fields `ParentImage`, `CommandLine` are"])),
        case!("unknown beats enrichment", FILE, "sel:\n    IntegrityLevel: Medium\n    FileMagicBytes: x\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["`FileMagicBytes`"])),
        case!(strict "strict: enrichment field rejected", FILE, "sel:\n    IntegrityLevel: Medium\ncondition: sel" =>
            Expect::Rejected("enrichment-field", &["field `IntegrityLevel` is not carried by windows/file_event", "only enriched events carry it (test/windows.yml: process context)"])),
        case!(strict "strict: known fields still load", FILE, "sel:\n    Image: x\ncondition: sel" => Expect::Loads),
        case!(strict "strict: a field in no schema stays unknown-field", PROC, "sel:\n    IntegrityLevel: x\ncondition: sel" =>
            Expect::Rejected("unknown-field", &["`IntegrityLevel`"])),
    ]);
}

#[test]
fn sigma_filter_documents_are_checked() {
    let rule = rule_yaml(FILE, "sel:\n    Image: x\ncondition: sel");
    let filter = |field: &str| {
        format!(
            "{rule}---\ntitle: Filter\nid: 22222222-2222-2222-2222-222222222222\nlogsource: {FILE}\n\
             filter:\n    rules: [00000000-0000-0000-0000-000000000001]\n    sel:\n        {field}: y\n    \
             condition: sel\n"
        )
    };
    let (_, report) = load(filter("TargetFilename"), false);
    assert!(report.rejections.is_empty(), "{:?}", report.rejections);
    assert_eq!(report.filters, 1);
    let (engine, report) = load(filter("FileMagicBytes"), false);
    assert_eq!(engine.len(), 1, "the rule itself loads");
    assert_eq!(report.rejections.len(), 1);
    assert_eq!(report.rejections[0].reason.kind(), "unknown-field");
    assert_eq!(report.filters, 0);
}
