//! The field-schema check: a rule that names a field its logsource never carries is rejected
//! (a selection on it can never match, a filter on it never applies). The schemas are data, in
//! the mapping files (see [`crate::mapping`]).

use crate::error::{FieldReject, Reject};
use crate::mapping::{MappingFile, Mappings};
use crate::modifiers::Modifier;
use crate::parse::{Detection, SearchItem};
use crate::rule::Logsource;

/// The fields a detection names, in document order, each once: the field of every field item
/// and the target of every `fieldref`. Keyword items name none.
pub(crate) fn referenced_fields(det: &Detection) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    fn add<'d>(out: &mut Vec<&'d str>, f: &'d str) {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    for (_, search) in &det.searches {
        for alt in &search.alternatives {
            let SearchItem::Map(specs) = alt else {
                continue;
            };
            for spec in specs {
                let Some(field) = spec.field.as_deref() else {
                    continue;
                };
                add(&mut out, field);
                if spec.modifiers.contains(&Modifier::FieldRef) {
                    for v in &spec.values {
                        if let crate::yaml::Scalar::Str(target) = v {
                            add(&mut out, target.as_str());
                        }
                    }
                }
            }
        }
    }
    out
}

/// `windows/file_event`: the logsource's values, as a rule author writes them.
fn short(ls: &Logsource) -> String {
    let parts: Vec<&str> = [&ls.product, &ls.category, &ls.service]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .collect();
    if parts.is_empty() {
        "(no logsource)".into()
    } else {
        parts.join("/")
    }
}

/// Checks the fields of a rule (or filter) detection against the schemas of the mapping
/// entries that apply to its logsource. `Ok` carries a warning naming the fields only enriched
/// events carry (none when every field is known or the logsource is not checked); `Err` names
/// the first field outside every schema (or, when `strict`, the first enrichment-only field).
pub(crate) fn check(
    mappings: &Mappings,
    ls: &Logsource,
    det: &Detection,
    strict: bool,
) -> Result<Option<String>, Reject> {
    let applying: Vec<(&MappingFile, &crate::mapping::LogsourceEntry)> =
        mappings.entries_for(ls).collect();
    // Catch-all entries (`*`) do not speak for a logsource that an entry names exactly.
    let consulted: Vec<_> = if applying.iter().any(|(_, e)| e.is_exact()) {
        applying.into_iter().filter(|(_, e)| e.is_exact()).collect()
    } else {
        applying
    };
    let mut schemas = Vec::with_capacity(consulted.len());
    for (file, entry) in &consulted {
        match &entry.schema {
            Some(s) => schemas.push((*file, s)),
            None => return Ok(None),
        }
    }
    if schemas.is_empty() {
        return Ok(None);
    }
    let fields = referenced_fields(det);
    let known = |f: &str| schemas.iter().any(|(_, s)| s.known.contains(f));
    let enriched = |f: &str| schemas.iter().any(|(_, s)| s.enriched.contains(f));
    // `origin: from, from; origin: from` for the declared (or the enrichment) schemas.
    let describe = |enrichment: bool| {
        schemas
            .iter()
            .map(|(file, s)| {
                let from = if enrichment {
                    &s.enriched_from
                } else {
                    &s.known_from
                };
                (file, from)
            })
            .filter(|(_, from)| !from.is_empty())
            .map(|(file, from)| format!("{}: {}", file.origin, from.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let logsource = short(ls);
    let schema = describe(false);
    if let Some(f) = fields.iter().find(|f| !known(f) && !enriched(f)) {
        return Err(Reject::UnknownField(Box::new(FieldReject {
            field: f.to_string(),
            logsource,
            schema,
            enrichment: String::new(),
        })));
    }
    let only_enriched: Vec<&str> = fields.into_iter().filter(|f| !known(f)).collect();
    let Some(first) = only_enriched.first() else {
        return Ok(None);
    };
    let enrichment = describe(true);
    if strict {
        return Err(Reject::EnrichedField(Box::new(FieldReject {
            field: first.to_string(),
            logsource,
            schema,
            enrichment,
        })));
    }
    let names: Vec<String> = only_enriched.iter().map(|f| format!("`{f}`")).collect();
    let (subject, them) = match names.as_slice() {
        [one] => (format!("field {one} is"), "it"),
        many => (format!("fields {} are", many.join(", ")), "them"),
    };
    Ok(Some(format!(
        "{subject} not carried by {logsource} ({schema}), only by enriched events ({enrichment}): \
         without enrichment a selection on {them} never matches and a filter on {them} never \
         applies"
    )))
}
