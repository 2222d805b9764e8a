//! base64, base64offset, wide/utf16le, utf16be, utf16.

use super::run;
use crate::case;

#[test]
fn base64_family() {
    run(&[
        // spec example: base64 of "http://" is aHR0cDovLw==
        case!("base64", "sel:\n    Data|base64: 'http://'\ncondition: sel", {"Data": "aHR0cDovLw=="} => true),
        case!("base64 contains", "sel:\n    Data|base64|contains: 'http://'\ncondition: sel", {"Data": "xx aHR0cDovLw== yy"} => true),
        case!("base64 miss", "sel:\n    Data|base64: 'http://'\ncondition: sel", {"Data": "aHR0cHM6Ly8="} => false),
        // "/bin/bash" at offsets 0, 1 and 2 inside a base64 stream
        case!("offset 0", "sel:\n    Cmd|base64offset|contains: '/bin/bash'\ncondition: sel", {"Cmd": "echo L2Jpbi9iYXNoIC1p | base64 -d"} => true),
        case!("offset 1", "sel:\n    Cmd|base64offset|contains: '/bin/bash'\ncondition: sel", {"Cmd": "eC9iaW4vYmFzaCAtaQ=="} => true),
        case!("offset 2", "sel:\n    Cmd|base64offset|contains: '/bin/bash'\ncondition: sel", {"Cmd": "eHgvYmluL2Jhc2ggLWk="} => true),
        case!("offset miss", "sel:\n    Cmd|base64offset|contains: '/bin/bash'\ncondition: sel", {"Cmd": "L3Vzci9iaW4venNo"} => false),
    ]);
}

#[test]
fn utf16_family() {
    // wide + base64offset: how PowerShell -EncodedCommand hides a string
    let enc = base64_utf16le("Invoke-Mimikatz");
    let det = "sel:\n    CommandLine|wide|base64offset|contains: 'Invoke-Mimikatz'\ncondition: sel";
    assert!(super::verdict(
        det,
        &serde_json::json!({ "CommandLine": format!("powershell -enc {enc}") })
    ));
    assert!(!super::verdict(
        det,
        &serde_json::json!({ "CommandLine": "powershell -enc SQBuAHYAbwBrAGUALQBYAA==" })
    ));
    let det = "sel:\n    Data|utf16le|base64: 'cmd'\ncondition: sel";
    assert!(super::verdict(
        det,
        &serde_json::json!({ "Data": "YwBtAGQA" })
    ));
    let det = "sel:\n    Data|utf16be|base64: 'cmd'\ncondition: sel";
    assert!(super::verdict(
        det,
        &serde_json::json!({ "Data": "AGMAbQBk" })
    ));
    let det = "sel:\n    Data|utf16|base64: 'cmd'\ncondition: sel";
    assert!(super::verdict(
        det,
        &serde_json::json!({ "Data": "//5jAG0AZAA=" })
    ));
    run(&[
        case!("wide needs wildcard-free values", "sel:\n    Data|wide|base64: 'cmd'\ncondition: sel", {"Data": "x"} => false),
    ]);
}

fn base64_utf16le(s: &str) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
