//! Prefilter: for each rule, a set of atoms at least one of which must be set for the rule
//! to possibly match (derived from its condition tree). Rules are only evaluated for events
//! that set one of their atoms; rules with no such set are evaluated for every event of
//! their logsource.

use super::atoms::{AtomInfo, AtomKind};
use super::{Direct, Node};

/// The cheapest necessary atom set of a node: `node ⇒ OR(atoms)`; `None` if none exists
/// (a negation, a regex, …). Cost estimates how often the set fires (lower is better).
pub fn necessary(
    node: &Node,
    directs: &[Direct],
    info: &[AtomInfo],
    slot_weight: &dyn Fn(u32) -> f64,
) -> Option<(f64, Vec<u32>)> {
    let cost = |a: u32| -> f64 {
        let i = &info[a as usize];
        let kind = match i.kind {
            AtomKind::Exact => 0.5,
            AtomKind::Prefix | AtomKind::Suffix => 0.7,
            AtomKind::Contains => 1.0,
        };
        kind * slot_weight(i.slot) / (i.len.clamp(1, 12) as f64)
    };
    match node {
        Node::True | Node::Not(_) => None,
        Node::False => Some((0.0, Vec::new())),
        Node::Atom(a) => Some((cost(*a), vec![*a])),
        Node::Direct(d) => directs[*d as usize].gate.map(|g| (cost(g), vec![g])),
        Node::And(children) => children
            .iter()
            .filter_map(|c| necessary(c, directs, info, slot_weight))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.len().cmp(&b.1.len()))),
        Node::AtLeast(k, children) if *k as usize >= children.len() => {
            necessary(&Node::And(children.clone()), directs, info, slot_weight)
        }
        Node::Or(children) | Node::AtLeast(_, children) => {
            let mut total = 0.0;
            let mut atoms = Vec::new();
            for c in children.iter() {
                let (cst, a) = necessary(c, directs, info, slot_weight)?;
                total += cst;
                atoms.extend(a);
            }
            atoms.sort_unstable();
            atoms.dedup();
            Some((total, atoms))
        }
    }
}

/// Needles that occur in most Windows events whatever their length (path components, common
/// extensions): a rule is better prefiltered on anything else.
const COMMON_NEEDLES: &[&[u8]] = &[
    b".exe",
    b".dll",
    b"\\windows\\",
    b"c:\\windows\\",
    b"\\system32\\",
    b"c:\\windows\\system32\\",
    b"\\syswow64\\",
    b"\\program files",
    b"c:\\program files",
    b"\\users\\",
    b"c:\\users\\",
    b"\\appdata\\",
    b"\\microsoft\\",
    b"microsoft",
    b"\\",
    b"c:\\",
];

/// Estimated rate at which an atom is set: shorter needles are more frequent (geometric in
/// length up to 12 bytes), anchored kinds rarer than `contains`, and fields the mapping marks
/// as routing or low-cardinality are weighted up by `slot_weight`.
pub fn atom_cost(i: &AtomInfo, slot_weight: &dyn Fn(u32) -> f64) -> f64 {
    let kind = match i.kind {
        AtomKind::Exact | AtomKind::Contains => 1.0,
        AtomKind::Prefix | AtomKind::Suffix => 0.7,
    };
    let common = if COMMON_NEEDLES.contains(&&i.needle[..]) {
        10.0
    } else {
        1.0
    };
    kind * common * slot_weight(i.slot) * 0.75f64.powi(i.len.clamp(1, 12) as i32)
}
