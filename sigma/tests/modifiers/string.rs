//! Plain values, wildcards and escapes, contains/startswith/endswith, all, cased, windash.

use super::run;
use crate::case;

#[test]
fn equality_is_case_insensitive_and_typed_values_compare_as_text() {
    run(&[
        case!("exact", "sel:\n    Image: 'C:\\Windows\\cmd.exe'\ncondition: sel", {"Image": "c:\\windows\\CMD.EXE"} => true),
        case!("exact is whole value", "sel:\n    Image: 'cmd.exe'\ncondition: sel", {"Image": "c:\\cmd.exe"} => false),
        case!("number vs string", "sel:\n    EventID: 4688\ncondition: sel", {"EventID": "4688"} => true),
        case!("number vs number", "sel:\n    EventID: 4688\ncondition: sel", {"EventID": 4688} => true),
        case!("string vs number", "sel:\n    EventID: '4688'\ncondition: sel", {"EventID": 4688} => true),
        case!("list is OR", "sel:\n    EventID: [1, 2, 3]\ncondition: sel", {"EventID": 2} => true),
        case!("list miss", "sel:\n    EventID: [1, 2, 3]\ncondition: sel", {"EventID": 4} => false),
        case!("map is AND", "sel:\n    A: x\n    B: y\ncondition: sel", {"A": "x", "B": "z"} => false),
        case!("missing field", "sel:\n    A: x\ncondition: sel", {"B": "x"} => false),
        case!("bool", "sel:\n    Flag: true\ncondition: sel", {"Flag": true} => true),
        case!("array field any element", "sel:\n    Tags: b\ncondition: sel", {"Tags": ["a", "b"]} => true),
        case!("nested dotted", "sel:\n    id.orig_h: 10.0.0.1\ncondition: sel", {"id": {"orig_h": "10.0.0.1"}} => true),
        case!("unicode folding", "sel:\n    User: 'ĐẶNG'\ncondition: sel", {"User": "đặng"} => true),
    ]);
}

#[test]
fn contains_startswith_endswith() {
    run(&[
        case!("contains", "sel:\n    CommandLine|contains: ' -enc '\ncondition: sel", {"CommandLine": "powershell -ENC abc"} => true),
        case!("contains miss", "sel:\n    CommandLine|contains: ' -enc '\ncondition: sel", {"CommandLine": "powershell -e abc"} => false),
        case!("startswith", "sel:\n    Image|startswith: 'C:\\Users\\'\ncondition: sel", {"Image": "c:\\users\\x.exe"} => true),
        case!("startswith miss", "sel:\n    Image|startswith: 'C:\\Users\\'\ncondition: sel", {"Image": "d:\\c:\\users\\x.exe"} => false),
        case!("endswith", "sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel", {"Image": "C:\\Windows\\System32\\cmd.exe"} => true),
        case!("endswith miss", "sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel", {"Image": "C:\\cmd.exe.bak"} => false),
        case!("contains all", "sel:\n    CommandLine|contains|all: [a1, b2]\ncondition: sel", {"CommandLine": "x b2 y a1"} => true),
        case!("contains all miss", "sel:\n    CommandLine|contains|all: [a1, b2]\ncondition: sel", {"CommandLine": "x b2 y"} => false),
        case!("endswith list", "sel:\n    Image|endswith: ['\\a.exe', '\\b.exe']\ncondition: sel", {"Image": "c:\\b.exe"} => true),
    ]);
}

#[test]
fn wildcards_and_escapes() {
    run(&[
        case!("star middle", "sel:\n    Image: 'C:\\Windows*\\cmd.exe'\ncondition: sel", {"Image": "c:\\windows\\system32\\cmd.exe"} => true),
        case!("star middle miss", "sel:\n    Image: 'C:\\Windows*\\cmd.exe'\ncondition: sel", {"Image": "d:\\windows\\cmd.exe"} => false),
        case!("backslash-star is a literal star", "sel:\n    Image: 'C:\\*\\cmd.exe'\ncondition: sel", {"Image": "c:*\\cmd.exe"} => true),
        case!("question mark", "sel:\n    Name: 'prog?.exe'\ncondition: sel", {"Name": "progA.exe"} => true),
        case!("question needs one", "sel:\n    Name: 'prog?.exe'\ncondition: sel", {"Name": "prog.exe"} => false),
        case!("escaped star literal", "sel:\n    Name: 'a\\*b'\ncondition: sel", {"Name": "a*b"} => true),
        case!("escaped star not wildcard", "sel:\n    Name: 'a\\*b'\ncondition: sel", {"Name": "axxb"} => false),
        case!("escaped question", "sel:\n    Name: 'a\\?'\ncondition: sel", {"Name": "a?"} => true),
        case!("escaped backslash then wildcard", "sel:\n    Name: 'a\\\\*'\ncondition: sel", {"Name": "a\\anything"} => true),
        case!("plain backslash", "sel:\n    Name: 'C:\\Temp'\ncondition: sel", {"Name": "c:\\temp"} => true),
        case!("star alone matches any value", "sel:\n    Name: '*'\ncondition: sel", {"Name": "x"} => true),
        case!("star alone needs the field", "sel:\n    Name: '*'\ncondition: sel", {"Other": "x"} => false),
        case!("contains with inner wildcard", "sel:\n    CommandLine|contains: 'net*user'\ncondition: sel", {"CommandLine": "x net1 user y"} => true),
    ]);
}

#[test]
fn cased() {
    run(&[
        case!("cased match", "sel:\n    Name|cased: 'AbC'\ncondition: sel", {"Name": "AbC"} => true),
        case!("cased mismatch", "sel:\n    Name|cased: 'AbC'\ncondition: sel", {"Name": "abc"} => false),
        case!("cased contains", "sel:\n    Name|contains|cased: 'B'\ncondition: sel", {"Name": "aBc"} => true),
        case!("cased contains miss", "sel:\n    Name|contains|cased: 'B'\ncondition: sel", {"Name": "abc"} => false),
    ]);
}

#[test]
fn windash() {
    run(&[
        case!("dash", "sel:\n    CommandLine|windash|contains: ' -exec '\ncondition: sel", {"CommandLine": "x -exec y"} => true),
        case!("slash", "sel:\n    CommandLine|windash|contains: ' -exec '\ncondition: sel", {"CommandLine": "x /exec y"} => true),
        case!("en dash", "sel:\n    CommandLine|windash|contains: ' -exec '\ncondition: sel", {"CommandLine": "x \u{2013}exec y"} => true),
        case!("em dash", "sel:\n    CommandLine|windash|contains: ' -exec '\ncondition: sel", {"CommandLine": "x \u{2014}exec y"} => true),
        case!("horizontal bar", "sel:\n    CommandLine|contains|windash: ' -exec '\ncondition: sel", {"CommandLine": "x \u{2015}exec y"} => true),
        case!("other char", "sel:\n    CommandLine|windash|contains: ' -exec '\ncondition: sel", {"CommandLine": "x +exec y"} => false),
    ]);
}
