//! Shared needles: every case-folded literal a rule needs (`contains`, `startswith`,
//! `endswith`, equality) is an *atom* on a field slot, shared by every rule that needs it.
//! The atoms rules are prefiltered on go into one Aho-Corasick automaton per (logsource
//! group, slot); running it once over a value yields every needle occurrence with its
//! position, from which all four kinds resolve at once. Other atoms are tested lazily, once
//! per event, only for the rules that become candidates.

use aho_corasick::automaton::Automaton;
use aho_corasick::{dfa, nfa, packed, Anchored, MatchKind};
use rustc_hash::FxHashMap;

/// How an atom's needle must sit in a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomKind {
    Contains = 0,
    Prefix = 1,
    Suffix = 2,
    Exact = 3,
}

pub const NO_ATOM: u32 = u32::MAX;

/// What an atom is, for prefilter costs and diagnostics.
#[derive(Debug, Clone)]
pub struct AtomInfo {
    pub slot: u32,
    pub kind: AtomKind,
    pub len: usize,
    pub needle: Box<[u8]>,
    finder: memchr::memmem::Finder<'static>,
}

impl AtomInfo {
    /// Whether a case-folded value satisfies the atom (the lazy path, for atoms that are not
    /// in a scanned automaton).
    #[inline]
    pub fn test(&self, v: &[u8]) -> bool {
        let n = &self.needle[..];
        match self.kind {
            AtomKind::Exact => v == n,
            AtomKind::Prefix => v.starts_with(n),
            AtomKind::Suffix => v.ends_with(n),
            AtomKind::Contains => v.len() >= n.len() && self.finder.find(v).is_some(),
        }
    }
}

#[derive(Default)]
struct SlotNeedles {
    index: FxHashMap<Vec<u8>, u32>,
    atoms: Vec<[u32; 4]>,
}

/// Collects atoms while rules compile.
#[derive(Default)]
pub struct AtomTable {
    slots: Vec<SlotNeedles>,
    pub info: Vec<AtomInfo>,
}

impl AtomTable {
    /// The atom for `needle` (non-empty, already folded) of `kind` on `slot`.
    pub fn atom(&mut self, slot: u32, kind: AtomKind, needle: &[u8]) -> u32 {
        let s = slot as usize;
        if self.slots.len() <= s {
            self.slots.resize_with(s + 1, SlotNeedles::default);
        }
        let sn = &mut self.slots[s];
        let p = match sn.index.get(needle) {
            Some(&p) => p,
            None => {
                let p = sn.atoms.len() as u32;
                sn.index.insert(needle.to_vec(), p);
                sn.atoms.push([NO_ATOM; 4]);
                p
            }
        };
        let a = &mut sn.atoms[p as usize][kind as usize];
        if *a == NO_ATOM {
            *a = self.info.len() as u32;
            let finder = memchr::memmem::Finder::new(needle).into_owned();
            self.info.push(AtomInfo {
                slot,
                kind,
                len: needle.len(),
                needle: needle.into(),
                finder,
            });
        }
        *a
    }
}

/// Builds one automaton over the needles of `atoms` (all on one slot).
/// `ascii_ci`: match ASCII letters in either case. `keywords`: the automaton scans a whole
/// event's text (ASCII-lowercased): a SIMD search for any needle (Teddy) runs first, and the
/// automaton only where it finds one.
pub fn build_scanner(
    info: &[AtomInfo],
    atoms: &[u32],
    ascii_ci: bool,
    keywords: bool,
) -> SlotMatcher {
    let mut index: FxHashMap<&[u8], usize> = FxHashMap::default();
    let mut needles: Vec<&[u8]> = Vec::new();
    let mut by_needle: Vec<[u32; 4]> = Vec::new();
    for &a in atoms {
        let i = &info[a as usize];
        let p = *index.entry(&i.needle[..]).or_insert_with(|| {
            needles.push(&i.needle[..]);
            by_needle.push([NO_ATOM; 4]);
            needles.len() - 1
        });
        by_needle[p][i.kind as usize] = a;
    }
    // Windows text is full of the bytes rare-byte prefilters pick (`\\`, `:`, `.`): measured,
    // a plain automaton pass is cheaper than prefilter ping-pong here.
    let auto = if needles.len() <= 2000 {
        Auto::Dfa(
            dfa::Builder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(ascii_ci)
                .prefilter(false)
                .build(&needles)
                .expect("needles are plain bytes"),
        )
    } else {
        Auto::Nfa(
            nfa::contiguous::Builder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(ascii_ci)
                .prefilter(false)
                .build(&needles)
                .expect("needles are plain bytes"),
        )
    };
    // A whole event is a long text (a thousand bytes and more) in which keyword needles are
    // rare: a packed SIMD search settles most events at a fraction of a DFA's cost per byte.
    let pre = keywords.then(|| {
        packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&needles)
            .build()
    });
    SlotMatcher {
        auto,
        pre: pre.flatten(),
        atoms: by_needle,
    }
}

/// A DFA for automata of up to 2,000 needles (one table lookup per byte), a contiguous NFA
/// (failure transitions, far less memory) above.
#[derive(Debug)]
pub enum Auto {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
}

impl Auto {
    pub fn memory_usage(&self) -> usize {
        match self {
            Auto::Dfa(a) => a.memory_usage(),
            Auto::Nfa(a) => a.memory_usage(),
        }
    }
}

/// One overlapping pass of `aut` over `value`, reporting each satisfied atom. The loop is
/// ours rather than the crate's iterator: monomorphic, no match objects, no restarts — a
/// table lookup and one comparison per byte.
#[inline(always)]
fn scan_with<A: Automaton>(aut: &A, atoms: &[[u32; 4]], value: &[u8], set: &mut impl FnMut(u32)) {
    let Ok(mut sid) = aut.start_state(Anchored::No) else {
        return;
    };
    let len = value.len();
    for (i, &b) in value.iter().enumerate() {
        sid = aut.next_state(Anchored::No, sid, b);
        if !aut.is_special(sid) {
            continue;
        }
        if aut.is_dead(sid) {
            return;
        }
        if !aut.is_match(sid) {
            continue;
        }
        let end = i + 1;
        for k in 0..aut.match_len(sid) {
            let pid = aut.match_pattern(sid, k);
            let a = &atoms[pid.as_usize()];
            if a[0] != NO_ATOM {
                set(a[0]);
            }
            let start = end == aut.pattern_len(pid);
            let whole = end == len;
            if start && a[1] != NO_ATOM {
                set(a[1]);
            }
            if whole && a[2] != NO_ATOM {
                set(a[2]);
            }
            if start && whole && a[3] != NO_ATOM {
                set(a[3]);
            }
        }
    }
}

/// The automaton of one slot and, per needle, its atoms by kind.
#[derive(Debug)]
pub struct SlotMatcher {
    pub auto: Auto,
    /// Whether any needle occurs at all (exact bytes), checked before the automaton.
    pub pre: Option<packed::Searcher>,
    pub atoms: Vec<[u32; 4]>,
}

impl SlotMatcher {
    /// Runs the automaton over a folded value and reports every satisfied atom.
    #[inline]
    pub fn scan(&self, value: &[u8], mut set: impl FnMut(u32)) {
        if let Some(p) = &self.pre {
            if p.find(value).is_none() {
                return;
            }
        }
        match &self.auto {
            Auto::Dfa(a) => scan_with(a, &self.atoms, value, &mut set),
            Auto::Nfa(a) => scan_with(a, &self.atoms, value, &mut set),
        }
    }
}
