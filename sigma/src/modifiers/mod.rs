//! Value modifiers, one module per family (Hayabusa-style): [`string`] (wildcards,
//! `contains`/`startswith`/`endswith`, `windash`, `cased`), [`encoding`] (`base64`,
//! `base64offset`, `wide`/`utf16*`), [`typed`] (`re`, `cidr`, numeric comparisons, time parts)
//! and, here, the pipeline that applies a chain left to right plus the field-level ones
//! (`all`, `exists`, `neq`, `fieldref`, `expand`).

pub mod encoding;
pub mod string;
pub mod typed;

use std::collections::HashMap;

use ipnet::IpNet;

use crate::error::Reject;
use crate::yaml::Scalar;
use string::{Pat, SigmaStr};
use typed::{CmpOp, TimePart};

/// `Field|mod1|mod2: values`, as the parser reads it and [`build_item`] compiles it (its home
/// is here, below both). A `None` field is a keyword item (`'|all': [...]`).
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub field: Option<String>,
    pub modifiers: Vec<Modifier>,
    pub values: Vec<Scalar>,
}

/// Every modifier of Sigma v2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Re,
    ReI,
    ReM,
    ReS,
    Windash,
    Cidr,
    Base64,
    Base64Offset,
    Utf16le,
    Utf16be,
    Utf16,
    Exists,
    Cased,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    FieldRef,
    Expand,
    Time(TimePart),
}

impl Modifier {
    pub fn parse(s: &str) -> Result<Modifier, Reject> {
        Ok(match s.trim() {
            "contains" => Modifier::Contains,
            "startswith" => Modifier::StartsWith,
            "endswith" => Modifier::EndsWith,
            "all" => Modifier::All,
            "re" => Modifier::Re,
            "i" => Modifier::ReI,
            "m" => Modifier::ReM,
            "s" => Modifier::ReS,
            "windash" => Modifier::Windash,
            "cidr" => Modifier::Cidr,
            "base64" => Modifier::Base64,
            "base64offset" => Modifier::Base64Offset,
            "wide" | "utf16le" => Modifier::Utf16le,
            "utf16be" => Modifier::Utf16be,
            "utf16" => Modifier::Utf16,
            "exists" => Modifier::Exists,
            "cased" => Modifier::Cased,
            "neq" => Modifier::Neq,
            "lt" => Modifier::Lt,
            "lte" => Modifier::Lte,
            "gt" => Modifier::Gt,
            "gte" => Modifier::Gte,
            "fieldref" => Modifier::FieldRef,
            "expand" => Modifier::Expand,
            "minute" => Modifier::Time(TimePart::Minute),
            "hour" => Modifier::Time(TimePart::Hour),
            "day" => Modifier::Time(TimePart::Day),
            "week" => Modifier::Time(TimePart::Week),
            "month" => Modifier::Time(TimePart::Month),
            "year" => Modifier::Time(TimePart::Year),
            other => return Err(Reject::UnknownModifier(other.to_string())),
        })
    }
}

/// Values for `expand` placeholders (`%Servers%` → a list of Sigma strings).
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    map: HashMap<String, Vec<String>>,
}

impl Placeholders {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, values: Vec<String>) {
        self.map.insert(name.into(), values);
    }

    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.map.get(name).map(Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Parses a YAML map `name: [values]` (a name may be written with or without `%`).
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, crate::SigmaError> {
        let err = |message: String| crate::SigmaError::Placeholders {
            origin: origin.to_string(),
            message,
        };
        let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| err(e.to_string()))?;
        let mut out = Placeholders::new();
        let Some(doc) = docs.first() else {
            return Ok(out);
        };
        let yaml_rust2::Yaml::Hash(h) = doc else {
            return Err(err("expected a map of name: [values]".into()));
        };
        for (k, v) in h {
            let Some(name) = crate::yaml::text(k) else {
                return Err(err("placeholder name is not a string".into()));
            };
            let values = crate::yaml::text_list(Some(v));
            if values.is_empty() {
                return Err(err(format!("placeholder `{name}` has no values")));
            }
            out.insert(name.trim_matches('%').to_string(), values);
        }
        Ok(out)
    }
}

/// How a `fieldref` compares the two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Equal,
    Prefix,
    Suffix,
    Contains,
}

/// One value of a field item after its modifier chain.
#[derive(Debug, Clone)]
pub enum ValueMatcher {
    /// A string pattern; folded to lowercase unless `cased`.
    Pattern {
        pat: Pat,
        cased: bool,
    },
    /// A regex, with literals one of which every match contains (case-folded), if known.
    Regex(Box<regex::bytes::Regex>, Option<Vec<Vec<u8>>>),
    Cidr(IpNet),
    /// Numeric comparison, of the value or of a time part of it.
    Cmp {
        op: CmpOp,
        value: f64,
        part: Option<TimePart>,
    },
    Exists(bool),
    /// `null`: the field is absent or null.
    Null,
    FieldRef {
        field: String,
        kind: RefKind,
    },
}

/// A field item compiled from its modifiers: its values combined with OR (or AND with
/// `all`), negated with `neq`.
#[derive(Debug, Clone)]
pub struct Item {
    /// `None` for keywords (searched over the whole event).
    pub field: Option<String>,
    pub all: bool,
    pub neq: bool,
    pub values: Vec<ValueMatcher>,
}

fn modifier_err(m: &str, message: impl Into<String>) -> Reject {
    Reject::Modifier {
        modifier: m.to_string(),
        message: message.into(),
    }
}

/// Applies a field item's modifier chain to its values.
pub fn build_item(spec: &FieldSpec, placeholders: &Placeholders) -> Result<Item, Reject> {
    let mods = &spec.modifiers;
    let has = |m: Modifier| mods.contains(&m);
    let all = has(Modifier::All);
    let neq = has(Modifier::Neq);
    let cased = has(Modifier::Cased);
    let mut item = Item {
        field: spec.field.clone(),
        all,
        neq,
        values: Vec::new(),
    };
    // `expand` first: placeholders become their configured values, whatever follows.
    let expanded: Vec<Scalar>;
    let spec_values: &[Scalar] = if has(Modifier::Expand) {
        let mut out = Vec::new();
        for v in &spec.values {
            match v {
                Scalar::Str(s) => out.extend(expand(s, placeholders)?.into_iter().map(Scalar::Str)),
                other => out.push(other.clone()),
            }
        }
        expanded = out;
        &expanded
    } else {
        &spec.values
    };
    if spec_values.is_empty() {
        return Err(Reject::Detection(format!(
            "field `{}` has an empty value list",
            spec.field.as_deref().unwrap_or("")
        )));
    }
    let texts = || spec_values.iter().map(|v| v.text().unwrap_or_default());

    if has(Modifier::Exists) {
        if mods.len() != 1 {
            return Err(modifier_err(
                "exists",
                "cannot be combined with other modifiers",
            ));
        }
        for v in spec_values {
            match v {
                Scalar::Bool(b) => item.values.push(ValueMatcher::Exists(*b)),
                Scalar::Str(s)
                    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
                {
                    item.values
                        .push(ValueMatcher::Exists(s.eq_ignore_ascii_case("true")))
                }
                _ => return Err(modifier_err("exists", "value must be true or false")),
            }
        }
        return Ok(item);
    }
    let re_flags = [Modifier::ReI, Modifier::ReM, Modifier::ReS]
        .iter()
        .any(|m| has(*m));
    if has(Modifier::Re) {
        let (i, m, s) = (has(Modifier::ReI), has(Modifier::ReM), has(Modifier::ReS));
        for v in texts() {
            let re = typed::compile_regex(&v, i, m, s)?;
            item.values.push(ValueMatcher::Regex(
                Box::new(re),
                typed::regex_literals(&v, i, m, s),
            ));
        }
        return Ok(item);
    }
    if re_flags {
        return Err(modifier_err("i/m/s", "regex flags need `re`"));
    }
    if has(Modifier::Cidr) {
        for v in texts() {
            item.values.push(ValueMatcher::Cidr(typed::parse_cidr(&v)?));
        }
        return Ok(item);
    }
    let part = mods.iter().find_map(|m| match m {
        Modifier::Time(p) => Some(*p),
        _ => None,
    });
    let cmp = mods.iter().find_map(|m| match m {
        Modifier::Lt => Some(CmpOp::Lt),
        Modifier::Lte => Some(CmpOp::Lte),
        Modifier::Gt => Some(CmpOp::Gt),
        Modifier::Gte => Some(CmpOp::Gte),
        _ => None,
    });
    if cmp.is_some() || part.is_some() {
        for v in texts() {
            let value = typed::parse_number(v.as_bytes())
                .ok_or_else(|| modifier_err("lt/lte/gt/gte", format!("`{v}` is not a number")))?;
            item.values.push(ValueMatcher::Cmp {
                op: cmp.unwrap_or(CmpOp::Eq),
                value,
                part,
            });
        }
        return Ok(item);
    }
    if has(Modifier::FieldRef) {
        let kind = if has(Modifier::Contains) {
            RefKind::Contains
        } else if has(Modifier::StartsWith) {
            RefKind::Prefix
        } else if has(Modifier::EndsWith) {
            RefKind::Suffix
        } else {
            RefKind::Equal
        };
        for v in texts() {
            item.values.push(ValueMatcher::FieldRef { field: v, kind });
        }
        return Ok(item);
    }

    // String values: expand, parse wildcards, encoding transforms in order, then the
    // position modifiers.
    for v in spec_values {
        let raw = match v {
            Scalar::Null => {
                item.values.push(ValueMatcher::Null);
                continue;
            }
            other => other.text().unwrap_or_default(),
        };
        let mut strs: Vec<SigmaStr> = vec![SigmaStr::parse(&raw)];
        for m in mods {
            strs = match m {
                Modifier::Windash => {
                    let mut out = Vec::new();
                    for s in &strs {
                        out.extend(string::windash(s)?);
                    }
                    out
                }
                Modifier::Base64
                | Modifier::Base64Offset
                | Modifier::Utf16le
                | Modifier::Utf16be
                | Modifier::Utf16 => {
                    let mut out = Vec::new();
                    for s in &strs {
                        let Some(b) = s.plain_bytes() else {
                            return Err(modifier_err(
                                &format!("{m:?}").to_lowercase(),
                                "cannot encode a value with wildcards",
                            ));
                        };
                        match m {
                            Modifier::Base64 => out.push(SigmaStr::literal(encoding::base64(&b))),
                            Modifier::Base64Offset => out.extend(
                                encoding::base64offset(&b)
                                    .into_iter()
                                    .map(SigmaStr::literal),
                            ),
                            Modifier::Utf16le => out.push(SigmaStr::literal(encoding::utf16le(&b))),
                            Modifier::Utf16be => out.push(SigmaStr::literal(encoding::utf16be(&b))),
                            _ => out.push(SigmaStr::literal(encoding::utf16(&b))),
                        }
                    }
                    out
                }
                _ => strs,
            };
        }
        for mut s in strs {
            if has(Modifier::Contains) || spec.field.is_none() {
                s.star_front();
                s.star_back();
            } else if has(Modifier::StartsWith) {
                s.star_back();
            } else if has(Modifier::EndsWith) {
                s.star_front();
            }
            let s = if cased { s } else { s.folded() };
            item.values.push(ValueMatcher::Pattern {
                pat: Pat::from_sigma(&s),
                cased,
            });
        }
    }
    Ok(item)
}

/// Replaces `%name%` placeholders by each configured value (cartesian product over several
/// placeholders); `\%` is a plain percent sign.
pub fn expand(raw: &str, placeholders: &Placeholders) -> Result<Vec<String>, Reject> {
    let mut outs = vec![String::new()];
    let mut rest = raw;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\%") {
            outs.iter_mut().for_each(|o| o.push('%'));
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('%') {
            if let Some(end) = r.find('%') {
                let name = &r[..end];
                let values = placeholders
                    .get(name)
                    .ok_or_else(|| Reject::Placeholder(name.to_string()))?;
                outs = outs
                    .iter()
                    .flat_map(|o| values.iter().map(move |v| format!("{o}{v}")))
                    .collect();
                rest = &r[end + 1..];
                continue;
            }
        }
        let c = rest.chars().next().expect("non-empty");
        outs.iter_mut().for_each(|o| o.push(c));
        rest = &rest[c.len_utf8()..];
    }
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_placeholders() {
        let mut p = Placeholders::new();
        p.insert("Servers", vec!["srv*".into(), "dc1".into()]);
        assert_eq!(expand("%Servers%", &p).unwrap(), vec!["srv*", "dc1"]);
        assert_eq!(
            expand(r"\%plain%Servers%", &p).unwrap(),
            vec!["%plainsrv*", "%plaindc1"]
        );
        assert_eq!(
            expand("%Nope%", &p).unwrap_err(),
            Reject::Placeholder("Nope".into())
        );
    }

    #[test]
    fn unknown_modifier_named() {
        assert_eq!(
            Modifier::parse("containz").unwrap_err(),
            Reject::UnknownModifier("containz".into())
        );
    }
}
