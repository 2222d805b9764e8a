//! Compilation: a rule's detection becomes a boolean tree over *atoms* (needle bits set by
//! the shared automata) and *direct* matchers (globs with a middle wildcard, regexes, CIDRs,
//! comparisons, existence, field references), evaluated lazily.

pub mod atoms;
pub mod prefilter;

use rustc_hash::FxHashMap;

use crate::error::Reject;
use crate::modifiers::string::{fold_into, Pat};
use crate::modifiers::typed::{CmpOp, TimePart};
use crate::modifiers::{build_item, Item, Placeholders, RefKind, ValueMatcher};
use crate::parse::condition::{parse_condition, pattern_matches, Cond, Quant};
use crate::parse::{Detection, SearchItem};
use atoms::{AtomKind, AtomTable};

/// Slot 0 holds every value of the event, for keyword searches.
pub const KEYWORD_SLOT: u32 = 0;

/// Field names (Sigma names and mapped event names) to dense slot numbers.
#[derive(Debug, Clone)]
pub struct SlotTable {
    map: FxHashMap<String, u32>,
    names: Vec<String>,
}

impl Default for SlotTable {
    fn default() -> Self {
        SlotTable {
            map: FxHashMap::default(),
            names: vec![String::new()],
        }
    }
}

impl SlotTable {
    pub fn slot(&mut self, name: &str) -> u32 {
        if let Some(&s) = self.map.get(name) {
            return s;
        }
        let s = self.names.len() as u32;
        self.names.push(name.to_string());
        self.map.insert(name.to_string(), s);
        s
    }

    #[inline]
    pub fn get(&self, name: &str) -> Option<u32> {
        self.map.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.len() <= 1
    }

    pub fn name(&self, slot: u32) -> &str {
        &self.names[slot as usize]
    }
}

/// A boolean tree over atoms and direct matchers.
#[derive(Debug, Clone)]
pub enum Node {
    True,
    False,
    Atom(u32),
    Direct(u32),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    AtLeast(u32, Box<[Node]>),
}

/// A matcher evaluated directly against a slot's values.
#[derive(Debug, Clone)]
pub struct Direct {
    pub slot: u32,
    /// An atom that must be set for this matcher to match (its longest literal).
    pub gate: Option<u32>,
    pub op: DirectOp,
}

#[derive(Debug, Clone)]
pub enum DirectOp {
    /// On case-folded values (globs, empty equality, `*`).
    Folded(Pat),
    /// `cased`: on original values.
    Cased(Pat),
    Regex(Box<regex::bytes::Regex>),
    Cidr(ipnet::IpNet),
    Cmp {
        op: CmpOp,
        value: f64,
        part: Option<TimePart>,
    },
    Exists(bool),
    Null,
    FieldRef {
        other: u32,
        kind: RefKind,
    },
}

/// What a node evaluates against.
pub trait Ctx {
    fn atom(&mut self, a: u32) -> bool;
    fn direct(&mut self, d: u32) -> bool;
}

impl Node {
    #[inline]
    pub fn eval<C: Ctx>(&self, c: &mut C) -> bool {
        match self {
            Node::True => true,
            Node::False => false,
            Node::Atom(a) => c.atom(*a),
            Node::Direct(d) => c.direct(*d),
            Node::And(n) => n.iter().all(|n| n.eval(c)),
            Node::Or(n) => n.iter().any(|n| n.eval(c)),
            Node::Not(n) => !n.eval(c),
            Node::AtLeast(k, n) => {
                let mut hit = 0;
                for x in n.iter() {
                    if x.eval(c) {
                        hit += 1;
                        if hit >= *k {
                            return true;
                        }
                    }
                }
                false
            }
        }
    }

    fn and(mut v: Vec<Node>) -> Node {
        let mut flat = Vec::with_capacity(v.len());
        for n in v.drain(..) {
            match n {
                Node::And(c) => flat.extend(c.into_vec()),
                Node::True => {}
                n => flat.push(n),
            }
        }
        if flat.iter().any(|n| matches!(n, Node::False)) {
            return Node::False;
        }
        match flat.len() {
            0 => Node::True,
            1 => flat.pop().expect("one"),
            _ => Node::And(flat.into_boxed_slice()),
        }
    }

    fn or(mut v: Vec<Node>) -> Node {
        let mut flat = Vec::with_capacity(v.len());
        for n in v.drain(..) {
            match n {
                Node::Or(c) => flat.extend(c.into_vec()),
                Node::False => {}
                n => flat.push(n),
            }
        }
        if flat.iter().any(|n| matches!(n, Node::True)) {
            return Node::True;
        }
        match flat.len() {
            0 => Node::False,
            1 => flat.pop().expect("one"),
            _ => Node::Or(flat.into_boxed_slice()),
        }
    }

    fn not(n: Node) -> Node {
        match n {
            Node::True => Node::False,
            Node::False => Node::True,
            Node::Not(inner) => *inner,
            n => Node::Not(Box::new(n)),
        }
    }
}

/// Compiles detections into nodes, registering slots, atoms and direct matchers.
pub struct Compiler<'a> {
    pub slots: &'a mut SlotTable,
    pub atoms: &'a mut AtomTable,
    pub directs: &'a mut Vec<Direct>,
    pub placeholders: &'a Placeholders,
}

impl Compiler<'_> {
    /// Compiles a detection: its condition(s) over its search identifiers.
    pub fn detection(&mut self, det: &Detection) -> Result<Node, Reject> {
        let mut searches: Vec<(&str, Node)> = Vec::with_capacity(det.searches.len());
        for (name, search) in &det.searches {
            let mut alts = Vec::with_capacity(search.alternatives.len());
            for alt in &search.alternatives {
                alts.push(match alt {
                    SearchItem::Keyword(k) => {
                        let spec = crate::parse::FieldSpec {
                            field: None,
                            modifiers: vec![],
                            values: vec![k.clone()],
                        };
                        let item = build_item(&spec, self.placeholders)?;
                        self.item(&item)?
                    }
                    SearchItem::Map(fields) => {
                        let mut parts = Vec::with_capacity(fields.len());
                        for f in fields {
                            let item = build_item(f, self.placeholders)?;
                            parts.push(self.item(&item)?);
                        }
                        Node::and(parts)
                    }
                });
            }
            searches.push((name.as_str(), Node::or(alts)));
        }
        let mut conds = Vec::with_capacity(det.conditions.len());
        for c in &det.conditions {
            let cond = parse_condition(c)?;
            conds.push(resolve(&cond, &searches)?);
        }
        Ok(Node::or(conds))
    }

    fn item(&mut self, item: &Item) -> Result<Node, Reject> {
        let slot = match &item.field {
            Some(f) => self.slots.slot(f),
            None => KEYWORD_SLOT,
        };
        let mut nodes = Vec::with_capacity(item.values.len());
        for v in &item.values {
            nodes.push(self.value(slot, v));
        }
        let combined = if item.all {
            Node::and(nodes)
        } else {
            Node::or(nodes)
        };
        if item.neq {
            let exists = self.direct(slot, None, DirectOp::Exists(true));
            return Ok(Node::and(vec![exists, Node::not(combined)]));
        }
        Ok(combined)
    }

    fn direct(&mut self, slot: u32, gate: Option<u32>, op: DirectOp) -> Node {
        self.directs.push(Direct { slot, gate, op });
        Node::Direct(self.directs.len() as u32 - 1)
    }

    fn value(&mut self, slot: u32, v: &ValueMatcher) -> Node {
        match v {
            ValueMatcher::Pattern { pat, cased: false } => match pat {
                Pat::Exact(l) if !l.is_empty() => {
                    Node::Atom(self.atoms.atom(slot, AtomKind::Exact, l))
                }
                Pat::Prefix(l) if !l.is_empty() => {
                    Node::Atom(self.atoms.atom(slot, AtomKind::Prefix, l))
                }
                Pat::Suffix(l) if !l.is_empty() => {
                    Node::Atom(self.atoms.atom(slot, AtomKind::Suffix, l))
                }
                Pat::Contains(l) if !l.is_empty() => {
                    Node::Atom(self.atoms.atom(slot, AtomKind::Contains, l))
                }
                Pat::Glob(_) => {
                    let gate = pat
                        .longest_literal()
                        .map(|l| self.atoms.atom(slot, AtomKind::Contains, l));
                    self.direct(slot, gate, DirectOp::Folded(pat.clone()))
                }
                other => self.direct(slot, None, DirectOp::Folded(other.clone())),
            },
            ValueMatcher::Pattern { pat, cased: true } => {
                let gate = pat.longest_literal().map(|l| {
                    let mut f = Vec::with_capacity(l.len());
                    fold_into(l, &mut f);
                    self.atoms.atom(slot, AtomKind::Contains, &f)
                });
                self.direct(slot, gate, DirectOp::Cased(pat.clone()))
            }
            ValueMatcher::Regex(r, lits) => {
                let re = self.direct(slot, None, DirectOp::Regex(r.clone()));
                match lits {
                    // Every match contains one of these: their atoms gate (and prefilter) it.
                    Some(lits) => {
                        let atoms = lits
                            .iter()
                            .map(|l| Node::Atom(self.atoms.atom(slot, AtomKind::Contains, l)))
                            .collect();
                        Node::and(vec![Node::or(atoms), re])
                    }
                    None => re,
                }
            }
            ValueMatcher::Cidr(n) => self.direct(slot, None, DirectOp::Cidr(*n)),
            ValueMatcher::Cmp { op, value, part } => self.direct(
                slot,
                None,
                DirectOp::Cmp {
                    op: *op,
                    value: *value,
                    part: *part,
                },
            ),
            ValueMatcher::Exists(b) => self.direct(slot, None, DirectOp::Exists(*b)),
            ValueMatcher::Null => self.direct(slot, None, DirectOp::Null),
            ValueMatcher::FieldRef { field, kind } => {
                let other = self.slots.slot(field);
                self.direct(slot, None, DirectOp::FieldRef { other, kind: *kind })
            }
        }
    }
}

fn resolve(c: &Cond, searches: &[(&str, Node)]) -> Result<Node, Reject> {
    Ok(match c {
        Cond::Ident(name) => match searches.iter().find(|(n, _)| n == name) {
            Some((_, node)) => node.clone(),
            None => {
                return Err(Reject::Condition(format!(
                    "unknown search identifier `{name}`"
                )))
            }
        },
        Cond::Of { quant, pattern } => {
            let nodes: Vec<Node> = searches
                .iter()
                .filter(|(n, _)| pattern_matches(pattern, n))
                .map(|(_, node)| node.clone())
                .collect();
            if nodes.is_empty() {
                return Err(Reject::Condition(format!(
                    "`{pattern}` matches no search identifier"
                )));
            }
            match quant {
                Quant::All => Node::and(nodes),
                Quant::AtLeast(1) => Node::or(nodes),
                Quant::AtLeast(k) if *k as usize > nodes.len() => Node::False,
                Quant::AtLeast(k) => Node::AtLeast(*k, nodes.into_boxed_slice()),
            }
        }
        Cond::Not(inner) => Node::not(resolve(inner, searches)?),
        Cond::And(items) => Node::and(
            items
                .iter()
                .map(|i| resolve(i, searches))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(items) => Node::or(
            items
                .iter()
                .map(|i| resolve(i, searches))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Reorders AND/OR children cheapest first (atoms before direct matchers, regexes last), so
/// short-circuiting skips the expensive ones. Returns the node's estimated cost.
pub fn reorder(node: &mut Node, directs: &[Direct]) -> u32 {
    match node {
        Node::True | Node::False => 0,
        Node::Atom(_) => 1,
        Node::Direct(d) => match directs[*d as usize].op {
            DirectOp::Regex(_) => 40,
            DirectOp::Cmp { .. } | DirectOp::Cidr(_) | DirectOp::FieldRef { .. } => 6,
            _ => 3,
        },
        Node::Not(n) => reorder(n, directs),
        Node::And(c) | Node::Or(c) | Node::AtLeast(_, c) => {
            let mut costs: Vec<(u32, Node)> = std::mem::take(c)
                .into_vec()
                .into_iter()
                .map(|mut n| (reorder(&mut n, directs), n))
                .collect();
            costs.sort_by_key(|(cost, _)| *cost);
            let total = costs.iter().map(|(c, _)| *c).sum::<u32>().min(10_000);
            *c = costs.into_iter().map(|(_, n)| n).collect();
            total
        }
    }
}

/// Combines a rule with the filters that target it: `rule and not filter1 and not …`.
pub fn with_filters(rule: Node, filters: Vec<Node>) -> Node {
    let mut parts = vec![rule];
    parts.extend(filters.into_iter().map(Node::not));
    Node::and(parts)
}
