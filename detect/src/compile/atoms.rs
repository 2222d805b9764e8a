//! Shared needles: every case-folded literal a rule needs (`contains`, `startswith`,
//! `endswith`, equality) is an *atom* on a field slot, shared by every rule that needs it.
//! The atoms rules are prefiltered on go into one Aho-Corasick automaton per (logsource
//! group, slot); running it once over a value yields every needle occurrence with its
//! position, from which all four kinds resolve at once. Other atoms are tested lazily, once
//! per event, only for the rules that become candidates.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
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
/// `ascii_ci`: match ASCII letters in either case (for scanning unfolded ASCII text).
pub fn build_scanner(info: &[AtomInfo], atoms: &[u32], ascii_ci: bool) -> SlotMatcher {
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
    let kind = if needles.len() <= 2000 {
        Some(AhoCorasickKind::DFA)
    } else {
        None
    };
    let ac = AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .ascii_case_insensitive(ascii_ci)
        // Windows text is full of the bytes rare-byte prefilters pick (`\\`, `:`, `.`):
        // measured, a plain automaton pass is cheaper than prefilter ping-pong here.
        .prefilter(false)
        .kind(kind)
        .build(&needles)
        .expect("needles are plain bytes");
    SlotMatcher {
        ac,
        atoms: by_needle,
    }
}

/// The automaton of one slot and, per needle, its atoms by kind.
#[derive(Debug)]
pub struct SlotMatcher {
    pub ac: AhoCorasick,
    pub atoms: Vec<[u32; 4]>,
}

impl SlotMatcher {
    /// Runs the automaton over a folded value and reports every satisfied atom.
    #[inline]
    pub fn scan(&self, value: &[u8], mut set: impl FnMut(u32)) {
        // Most values hold no needle: a first search settles that before the overlapping
        // pass.
        if !self.ac.is_match(value) {
            return;
        }
        let len = value.len();
        for m in self.ac.find_overlapping_iter(value) {
            let a = &self.atoms[m.pattern().as_usize()];
            if a[0] != NO_ATOM {
                set(a[0]);
            }
            let start = m.start() == 0;
            let end = m.end() == len;
            if start && a[1] != NO_ATOM {
                set(a[1]);
            }
            if end && a[2] != NO_ATOM {
                set(a[2]);
            }
            if start && end && a[3] != NO_ATOM {
                set(a[3]);
            }
        }
    }
}
