//! Parsing a correlation document (the `correlation:` section and the rule's metadata) and the
//! checks that need nothing but the document itself. References to other rules are resolved
//! later, in [`super::set`].

use std::path::Path;

use serde::{Deserialize, Serialize};
use yaml_rust2::Yaml;

use super::error::CorrelationReject as R;
use crate::rule::RuleMeta;
use crate::yaml::{describe, get, text, Scalar};

/// The correlation types of the Sigma correlation specification (v2.1 adds the `value_*`
/// metric types; `value_median` is pySigma's shorthand for the 50th percentile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
    ValueMedian,
}

impl CorrelationType {
    pub fn parse(s: &str) -> Option<CorrelationType> {
        Some(match s {
            "event_count" => CorrelationType::EventCount,
            "value_count" => CorrelationType::ValueCount,
            "temporal" => CorrelationType::Temporal,
            "temporal_ordered" => CorrelationType::TemporalOrdered,
            "value_sum" => CorrelationType::ValueSum,
            "value_avg" => CorrelationType::ValueAvg,
            "value_percentile" => CorrelationType::ValuePercentile,
            "value_median" => CorrelationType::ValueMedian,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
            CorrelationType::ValueSum => "value_sum",
            CorrelationType::ValueAvg => "value_avg",
            CorrelationType::ValuePercentile => "value_percentile",
            CorrelationType::ValueMedian => "value_median",
        }
    }

    /// Temporal types: the condition counts distinct referenced rules and may be omitted.
    pub fn is_temporal(self) -> bool {
        matches!(
            self,
            CorrelationType::Temporal | CorrelationType::TemporalOrdered
        )
    }

    /// Types that read `condition.field`.
    pub fn needs_field(self) -> bool {
        matches!(
            self,
            CorrelationType::ValueCount
                | CorrelationType::ValueSum
                | CorrelationType::ValueAvg
                | CorrelationType::ValuePercentile
                | CorrelationType::ValueMedian
        )
    }

    /// Types aggregating a numeric field.
    pub fn is_numeric(self) -> bool {
        self.needs_field() && self != CorrelationType::ValueCount
    }
}

impl std::fmt::Display for CorrelationType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison of the condition map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl CmpOp {
    fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            "gt" => CmpOp::Gt,
            "gte" => CmpOp::Gte,
            "lt" => CmpOp::Lt,
            "lte" => CmpOp::Lte,
            "eq" => CmpOp::Eq,
            "neq" => CmpOp::Neq,
            _ => return None,
        })
    }

    pub fn test(self, x: f64, bound: f64) -> bool {
        match self {
            CmpOp::Gt => x > bound,
            CmpOp::Gte => x >= bound,
            CmpOp::Lt => x < bound,
            CmpOp::Lte => x <= bound,
            CmpOp::Eq => x == bound,
            CmpOp::Neq => x != bound,
        }
    }
}

/// `condition:` — every comparison must hold (the specification's range form `gt: 100,
/// lte: 200` is a conjunction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub ops: Vec<(CmpOp, f64)>,
    /// `field`: the field the `value_*` types read (several for `value_count`: the distinct
    /// combinations are counted).
    pub field: Vec<String>,
    /// `percentile` (0–100) for `value_percentile`.
    pub percentile: Option<f64>,
}

impl Condition {
    pub fn holds(&self, x: f64) -> bool {
        self.ops.iter().all(|(op, b)| op.test(x, *b))
    }
}

/// `aliases: {alias: {rule: field}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    /// (rule reference as written, field name in that rule's events).
    pub fields: Vec<(String, String)>,
}

/// A parsed correlation document, references unresolved.
#[derive(Debug, Clone)]
pub struct CorrelationDoc {
    pub meta: RuleMeta,
    /// Index of the YAML document in its file.
    pub document: usize,
    pub kind: CorrelationType,
    /// `rules`, in the given order (the order `temporal_ordered` requires).
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    pub timespan: String,
    /// `None` for a temporal type without a condition (all referenced rules required).
    pub condition: Option<Condition>,
    pub aliases: Vec<Alias>,
    pub generate: bool,
}

/// Parses a document that has a `correlation` key. `meta` is the document's rule metadata as
/// [`crate::parse`] reads it for detection rules.
pub fn parse_correlation(
    map: &yaml_rust2::yaml::Hash,
    meta: RuleMeta,
) -> Result<CorrelationDoc, R> {
    let Some(Yaml::Hash(c)) = get(map, "correlation") else {
        return Err(R::NotAMap);
    };
    for (k, _) in c {
        let k = k.as_str().unwrap_or_default();
        if !matches!(
            k,
            "type" | "rules" | "group-by" | "timespan" | "condition" | "aliases" | "generate"
        ) {
            return Err(R::UnknownKey(k.to_string()));
        }
    }
    let kind = match get(c, "type") {
        None => return Err(R::MissingType),
        Some(y) => {
            let t = text(y).ok_or_else(|| R::UnknownType(describe(y)))?;
            CorrelationType::parse(&t).ok_or(R::UnknownType(t))?
        }
    };
    let rules = string_list(get(c, "rules")).map_err(R::Rules)?;
    if rules.is_empty() {
        return Err(R::Rules("names no rule".into()));
    }
    let group_by = string_list(get(c, "group-by")).map_err(R::GroupBy)?;
    let (timespan_ms, timespan) = match get(c, "timespan") {
        None => return Err(R::Timespan("missing".into())),
        Some(y) => {
            let t = text(y).ok_or_else(|| R::Timespan(format!("{} is not text", describe(y))))?;
            (parse_timespan(&t).map_err(R::Timespan)?, t)
        }
    };
    let condition = parse_condition(kind, get(c, "condition"))?;
    let aliases = parse_aliases(get(c, "aliases"))?;
    let generate = match get(c, "generate") {
        None => false,
        Some(Yaml::Boolean(b)) => *b,
        Some(y) => return Err(R::Generate(format!("{} is not a boolean", describe(y)))),
    };
    for a in &aliases {
        for (r, _) in &a.fields {
            if !rules.contains(r) {
                return Err(R::Aliases(format!(
                    "alias `{}` names rule `{r}`, which `rules` does not list",
                    a.name
                )));
            }
        }
    }
    Ok(CorrelationDoc {
        meta,
        document: 0,
        kind,
        rules,
        group_by,
        timespan_ms,
        timespan,
        condition,
        aliases,
        generate,
    })
}

/// A string or a list of strings; other shapes are errors.
fn string_list(y: Option<&Yaml>) -> Result<Vec<String>, String> {
    let item = |y: &Yaml| match y {
        Yaml::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Yaml::Integer(_) | Yaml::Real(_) => Ok(text(y).unwrap_or_default()),
        other => Err(format!("{} is not a name", describe(other))),
    };
    match y {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Array(a)) => {
            let mut out: Vec<String> = Vec::with_capacity(a.len());
            for y in a {
                let s = item(y)?;
                if out.contains(&s) {
                    return Err(format!("`{s}` is listed twice"));
                }
                out.push(s);
            }
            Ok(out)
        }
        Some(y) => item(y).map(|s| vec![s]),
    }
}

/// `<positive integer><s|m|h|d|w>` (the specification lists s, m, h and d; weeks are fixed
/// too, so they are accepted; months and years are not fixed durations and are refused).
pub fn parse_timespan(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not <number><s|m|h|d|w>"))?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "M" | "y" => {
            return Err(format!(
                "`{s}`: months and years are not fixed durations (use days)"
            ))
        }
        _ => return Err(format!("`{s}` is not <number><s|m|h|d|w>")),
    };
    if n <= 0 {
        return Err(format!("`{s}` must be greater than zero"));
    }
    n.checked_mul(unit_ms)
        .filter(|ms| *ms <= 366 * 86_400_000)
        .ok_or_else(|| format!("`{s}` is longer than a year"))
}

fn number(y: &Yaml) -> Option<f64> {
    match Scalar::from_yaml(y)? {
        Scalar::Num(n) => n.parse::<f64>().ok().filter(|v| v.is_finite()),
        _ => None,
    }
}

fn parse_condition(kind: CorrelationType, y: Option<&Yaml>) -> Result<Option<Condition>, R> {
    let c = match y {
        None | Some(Yaml::Null) if kind.is_temporal() => return Ok(None),
        None | Some(Yaml::Null) => {
            return Err(R::Condition(format!("missing (required for {kind})")))
        }
        Some(Yaml::String(s)) => {
            return Err(R::Condition(format!(
                "extended (boolean) condition `{s}` not supported; use a map such as `gte: 2`"
            )))
        }
        Some(Yaml::Hash(h)) => h,
        Some(y) => return Err(R::Condition(format!("{} is not a map", describe(y)))),
    };
    let mut cond = Condition {
        ops: Vec::new(),
        field: Vec::new(),
        percentile: None,
    };
    for (k, v) in c {
        let k = k.as_str().unwrap_or_default();
        if let Some(op) = CmpOp::parse(k) {
            let n = number(v)
                .ok_or_else(|| R::Condition(format!("`{k}: {}` is not a number", describe(v))))?;
            cond.ops.push((op, n));
        } else if k == "field" {
            cond.field = string_list(Some(v)).map_err(R::Field)?;
        } else if k == "percentile" {
            let p = number(v)
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(|| {
                    R::Percentile(format!("{} is not a number from 0 to 100", describe(v)))
                })?;
            cond.percentile = Some(p);
        } else {
            return Err(R::Condition(format!(
                "unknown key `{k}` (expected gt, gte, lt, lte, eq, neq, field, percentile)"
            )));
        }
    }
    if cond.ops.is_empty() {
        return Err(R::Condition(
            "no comparison (gt, gte, lt, lte, eq or neq)".into(),
        ));
    }
    match (kind.needs_field(), cond.field.len()) {
        (true, 0) => return Err(R::Field(format!("{kind} needs `condition.field`"))),
        (true, n) if n > 1 && kind != CorrelationType::ValueCount => {
            return Err(R::Field(format!("{kind} aggregates one field, {n} given")))
        }
        (false, n) if n > 0 => {
            return Err(R::Field(format!(
                "{kind} does not read a field (`condition.field` is for value_* types)"
            )))
        }
        _ => {}
    }
    match (kind, cond.percentile) {
        (CorrelationType::ValuePercentile, None) => {
            return Err(R::Percentile(
                "value_percentile needs `condition.percentile` (0–100)".into(),
            ))
        }
        (CorrelationType::ValuePercentile, Some(_)) => {}
        (_, Some(_)) => return Err(R::Percentile(format!("{kind} does not take a percentile"))),
        _ => {}
    }
    Ok(Some(cond))
}

fn parse_aliases(y: Option<&Yaml>) -> Result<Vec<Alias>, R> {
    let map = match y {
        None | Some(Yaml::Null) => return Ok(Vec::new()),
        Some(Yaml::Hash(h)) => h,
        Some(y) => return Err(R::Aliases(format!("{} is not a map", describe(y)))),
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let name = text(k).ok_or_else(|| R::Aliases(format!("{} is not a name", describe(k))))?;
        let Yaml::Hash(per_rule) = v else {
            return Err(R::Aliases(format!(
                "alias `{name}`: {} is not a map of rule to field",
                describe(v)
            )));
        };
        let mut fields = Vec::new();
        for (r, f) in per_rule {
            match (text(r), f) {
                (Some(r), Yaml::String(f)) if !f.trim().is_empty() => {
                    fields.push((r, f.trim().to_string()))
                }
                _ => {
                    return Err(R::Aliases(format!(
                        "alias `{name}`: {}: {} is not rule: field",
                        describe(r),
                        describe(f)
                    )))
                }
            }
        }
        out.push(Alias { name, fields });
    }
    Ok(out)
}

/// Rule metadata of a correlation document (the fields a detection rule has, minus
/// logsource, which a correlation does not have).
pub fn correlation_meta(map: &yaml_rust2::yaml::Hash, path: &Path, id: String) -> Option<RuleMeta> {
    let title = get(map, "title").and_then(text)?;
    let status = get(map, "status").and_then(text);
    Some(RuleMeta::from_yaml(
        map,
        path,
        id,
        title,
        status,
        Default::default(),
    ))
}
