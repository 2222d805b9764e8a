//! Property tests: wildcard patterns against an independent regex oracle, and escapes.

use canhgac_sigma::modifiers::string::{glob_match, Pat, SigmaStr, Tok};
use proptest::prelude::*;

fn oracle(toks: &[Tok]) -> regex::bytes::Regex {
    let mut re = String::from("(?s-u)^");
    for t in toks {
        match t {
            Tok::Star => re.push_str(".*"),
            // one UTF-8 character (inputs here are ASCII)
            Tok::One => re.push('.'),
            Tok::Lit(l) => {
                for b in l {
                    re.push_str(&regex::escape(&(*b as char).to_string()));
                }
            }
        }
    }
    re.push('$');
    regex::bytes::Regex::new(&re).unwrap()
}

proptest! {
    #[test]
    fn glob_agrees_with_regex(pattern in "[ab*?]{0,8}", subject in "[ab]{0,10}") {
        let s = SigmaStr::parse(&pattern);
        let want = oracle(&s.0).is_match(subject.as_bytes());
        prop_assert_eq!(glob_match(&s.0, subject.as_bytes()), want, "{:?} {:?}", pattern, subject);
        prop_assert_eq!(Pat::from_sigma(&s).matches(subject.as_bytes()), want);
    }

    #[test]
    fn escaped_wildcards_are_literal(text in "[a-c*?\\\\]{0,10}") {
        // Escape every special character: the pattern then matches exactly the text.
        let escaped: String = text.chars().map(|c| if matches!(c, '*' | '?' | '\\') { format!("\\{c}") } else { c.to_string() }).collect();
        let s = SigmaStr::parse(&escaped);
        prop_assert!(!s.has_wildcards());
        prop_assert_eq!(s.plain_bytes().unwrap_or_default(), text.as_bytes().to_vec());
    }

    #[test]
    fn contains_finds_any_embedding(pre in "[a-z]{0,5}", needle in "[a-z]{1,5}", post in "[a-z]{0,5}") {
        let det = format!("sel:\n    F|contains: '{needle}'\ncondition: sel");
        let value = format!("{pre}{}{post}", needle.to_uppercase());
        let ev = serde_json::json!({ "F": value });
        prop_assert!(super::verdict(&det, &ev));
    }
}
