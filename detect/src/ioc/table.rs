//! Lookup tables: string keys probed with an incremental hash, exact IPs, CIDR ranges.
//!
//! [`KeyTable`] stores lowercased keys in one arena and indexes them in a
//! [`hashbrown::HashTable`] by a 64-bit hash computed one byte at a time ([`KeyHasher`]). The
//! hash of every prefix (or, hashing backwards, every suffix) of a query is therefore available
//! after one pass over it: walking the labels of a domain or the path segments of a URL costs one
//! table probe per boundary and one hash step per byte, and a key is compared byte for byte only
//! when its full 64-bit hash agrees. Lookups are linear in the length of the value looked up,
//! whatever the number of keys.
//!
//! [`CidrTable`] keeps one hash map per prefix length present (at most 33 for IPv4, 129 for
//! IPv6): a lookup masks the address once per length and probes, so its cost is bounded by the
//! number of distinct prefix lengths, never by the number of ranges.

use std::net::IpAddr;

use hashbrown::HashTable;
use ipnet::IpNet;
use rustc_hash::FxHashMap;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over ASCII-lowercased bytes, finished with murmur3's 64-bit mixer so that the high
/// bits hashbrown uses for its control bytes are well distributed.
#[derive(Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    #[inline]
    pub(crate) fn new() -> Self {
        KeyHasher(FNV_OFFSET)
    }

    #[inline]
    pub(crate) fn push(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(FNV_PRIME);
    }

    /// The hash of the bytes pushed so far (the state is not consumed).
    #[inline]
    pub(crate) fn finish(&self) -> u64 {
        let mut k = self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
}

/// Hash of `bytes` read forwards (URL, path, hash and e-mail keys).
pub(crate) fn hash_fwd(bytes: &[u8]) -> u64 {
    let mut h = KeyHasher::new();
    bytes.iter().for_each(|&b| h.push(b));
    h.finish()
}

/// Hash of `bytes` read backwards (domain keys, so that suffixes can be probed).
pub(crate) fn hash_rev(bytes: &[u8]) -> u64 {
    let mut h = KeyHasher::new();
    bytes.iter().rev().for_each(|&b| h.push(b));
    h.finish()
}

#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    start: u32,
    len: u32,
    value: u32,
}

/// Lowercased string keys → a `u32` value, looked up by precomputed hash.
#[derive(Default)]
pub(crate) struct KeyTable {
    table: HashTable<Slot>,
    arena: String,
}

impl KeyTable {
    /// Inserts a key (stored lowercased) with its hash; returns the value already there, if any,
    /// leaving it in place.
    pub(crate) fn insert(&mut self, key: &str, hash: u64, value: u32) -> Option<u32> {
        if let Some(v) = self.get(hash, key.as_bytes()) {
            return Some(v);
        }
        let start = self.arena.len() as u32;
        self.arena
            .extend(key.chars().map(|c| c.to_ascii_lowercase()));
        let slot = Slot {
            hash,
            start,
            len: key.len() as u32,
            value,
        };
        self.table.insert_unique(hash, slot, |s| s.hash);
        None
    }

    /// The value of the key equal (ASCII case-insensitively) to `query`, whose hash is `hash`.
    #[inline]
    pub(crate) fn get(&self, hash: u64, query: &[u8]) -> Option<u32> {
        self.table
            .find(hash, |s| {
                s.hash == hash
                    && s.len as usize == query.len()
                    && self.key_bytes(s).eq_ignore_ascii_case(query)
            })
            .map(|s| s.value)
    }

    fn key_bytes(&self, s: &Slot) -> &[u8] {
        &self.arena.as_bytes()[s.start as usize..(s.start + s.len) as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Approximate heap use in bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.table.capacity() * (std::mem::size_of::<Slot>() + 1)
    }
}

/// Calls `f(value, suffix)` for every label-aligned suffix of `name` present in a table of
/// domain keys (hashed with [`hash_rev`]): `a.b.example.com` probes `com`, `example.com`,
/// `b.example.com` and `a.b.example.com`. A trailing dot is ignored. One hash step per byte and
/// one probe per label.
#[inline]
pub(crate) fn walk_domain(table: &KeyTable, name: &str, mut f: impl FnMut(u32, &str)) {
    if table.len() == 0 {
        return;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let bytes = name.as_bytes();
    let mut h = KeyHasher::new();
    for i in (0..bytes.len()).rev() {
        if bytes[i] == b'.' && i + 1 < bytes.len() {
            if let Some(v) = table.get(h.finish(), &bytes[i + 1..]) {
                f(v, &name[i + 1..]);
            }
        }
        h.push(bytes[i]);
    }
    if !bytes.is_empty() {
        if let Some(v) = table.get(h.finish(), bytes) {
            f(v, name);
        }
    }
}

/// Calls `f(value, prefix)` for every prefix `bytes[..i]` with `i` in `boundaries` (ascending,
/// each ≤ `bytes.len()`) present in a table of forward-hashed keys. `start` is where keys begin
/// in `bytes` (0 for whole-URL keys, the path's offset for path keys).
#[inline]
pub(crate) fn walk_prefixes(
    table: &KeyTable,
    bytes: &[u8],
    start: usize,
    boundaries: impl Iterator<Item = usize>,
    mut f: impl FnMut(u32, usize),
) {
    if table.len() == 0 {
        return;
    }
    let mut h = KeyHasher::new();
    let mut pos = start;
    for end in boundaries {
        if end <= start {
            continue;
        }
        while pos < end {
            h.push(bytes[pos]);
            pos += 1;
        }
        if let Some(v) = table.get(h.finish(), &bytes[start..end]) {
            f(v, end);
        }
    }
}

/// CIDR ranges → a `u32` value, one hash map per prefix length present.
#[derive(Default)]
pub(crate) struct CidrTable {
    v4: Vec<(u8, FxHashMap<u32, u32>)>,
    v6: Vec<(u8, FxHashMap<u128, u32>)>,
}

fn mask4(ip: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        ip & (u32::MAX << (32 - u32::from(len)))
    }
}

fn mask6(ip: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        ip & (u128::MAX << (128 - u32::from(len)))
    }
}

impl CidrTable {
    /// Inserts a network (its host bits are ignored); returns the value already there, if any.
    pub(crate) fn insert(&mut self, net: IpNet, value: u32) -> Option<u32> {
        match net {
            IpNet::V4(n) => {
                let len = n.prefix_len();
                let key = mask4(u32::from(n.addr()), len);
                let map = match self.v4.iter_mut().position(|(l, _)| *l == len) {
                    Some(i) => &mut self.v4[i].1,
                    None => {
                        self.v4.push((len, FxHashMap::default()));
                        &mut self.v4.last_mut().expect("pushed").1
                    }
                };
                match map.get(&key) {
                    Some(v) => Some(*v),
                    None => {
                        map.insert(key, value);
                        None
                    }
                }
            }
            IpNet::V6(n) => {
                let len = n.prefix_len();
                let key = mask6(u128::from(n.addr()), len);
                let map = match self.v6.iter_mut().position(|(l, _)| *l == len) {
                    Some(i) => &mut self.v6[i].1,
                    None => {
                        self.v6.push((len, FxHashMap::default()));
                        &mut self.v6.last_mut().expect("pushed").1
                    }
                };
                match map.get(&key) {
                    Some(v) => Some(*v),
                    None => {
                        map.insert(key, value);
                        None
                    }
                }
            }
        }
    }

    /// Calls `f(value, prefix_len)` for every range containing `ip`.
    #[inline]
    pub(crate) fn lookup(&self, ip: IpAddr, mut f: impl FnMut(u32, u8)) {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                for (len, map) in &self.v4 {
                    if let Some(v) = map.get(&mask4(a, *len)) {
                        f(*v, *len);
                    }
                }
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                for (len, map) in &self.v6 {
                    if let Some(v) = map.get(&mask6(a, *len)) {
                        f(*v, *len);
                    }
                }
            }
        }
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let mut found = false;
        self.lookup(ip, |_, _| found = true);
        found
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.iter().map(|(_, m)| m.len()).sum::<usize>()
            + self.v6.iter().map(|(_, m)| m.len()).sum::<usize>()
    }

    /// Distinct prefix lengths present (the probe count of a lookup), IPv4 and IPv6.
    pub(crate) fn prefix_lengths(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.v4.iter().map(|(_, m)| m.capacity() * 9).sum::<usize>()
            + self
                .v6
                .iter()
                .map(|(_, m)| m.capacity() * 21)
                .sum::<usize>()
    }
}

/// An address in canonical form: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes IPv4.
#[inline]
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(keys: &[&str]) -> KeyTable {
        let mut t = KeyTable::default();
        for (i, k) in keys.iter().enumerate() {
            t.insert(k, hash_rev(k.as_bytes()), i as u32);
        }
        t
    }

    #[test]
    fn domain_walk_finds_every_listed_suffix() {
        let t = domains(&["example.com", "b.example.com", "org"]);
        let mut seen = Vec::new();
        walk_domain(&t, "A.B.Example.COM.", |v, s| seen.push((v, s.to_string())));
        assert_eq!(
            seen,
            vec![
                (0, "Example.COM".to_string()),
                (1, "B.Example.COM".to_string())
            ]
        );
        seen.clear();
        walk_domain(&t, "notexample.com", |v, s| seen.push((v, s.to_string())));
        assert!(seen.is_empty(), "label-aligned only: {seen:?}");
        walk_domain(&t, "", |v, s| seen.push((v, s.to_string())));
        walk_domain(&t, ".", |v, s| seen.push((v, s.to_string())));
        assert!(seen.is_empty());
    }

    #[test]
    fn prefixes_at_boundaries() {
        let mut t = KeyTable::default();
        for (i, k) in ["a.com/x", "a.com/x/y.php"].iter().enumerate() {
            t.insert(k, hash_fwd(k.as_bytes()), i as u32);
        }
        let url = b"a.com/x/y.php";
        let mut seen = Vec::new();
        walk_prefixes(&t, url, 0, [5, 7, 13].into_iter(), |v, end| {
            seen.push((v, end))
        });
        assert_eq!(seen, vec![(0, 7), (1, 13)]);
    }

    #[test]
    fn cidr_bounds() {
        let mut t = CidrTable::default();
        t.insert("10.1.2.0/24".parse().unwrap(), 0);
        t.insert("0.0.0.0/0".parse().unwrap(), 1);
        t.insert("2001:db8::/32".parse().unwrap(), 2);
        let hits = |ip: &str| {
            let mut v = Vec::new();
            t.lookup(ip.parse().unwrap(), |x, _| v.push(x));
            v.sort();
            v
        };
        assert_eq!(hits("10.1.2.0"), vec![0, 1]);
        assert_eq!(hits("10.1.2.255"), vec![0, 1]);
        assert_eq!(hits("10.1.3.0"), vec![1]);
        assert_eq!(hits("2001:db8:ffff::1"), vec![2]);
        assert_eq!(hits("2001:db9::1"), Vec::<u32>::new());
        assert_eq!(t.prefix_lengths(), (2, 1));
    }
}
