//! The compiled set of every loaded list, and matching events against it.

use std::net::IpAddr;
use std::sync::Arc;

use canhgac_core::detection::IocHit;
use canhgac_core::Event;
use rustc_hash::FxHashMap;

use super::collect::{ListReport, LoadedList};
use super::definition::{ListMeta, ListRole};
use super::fields::IocFields;
use super::indicator::{self, IndicatorKind, Key};
use super::table::{
    canonical, hash_fwd, hash_rev, walk_domain, walk_prefixes, CidrTable, KeyTable,
};
use super::url::{self, UrlParts};
use super::warninglist::{Allowlist, Probe};

const NO_LABEL: u32 = u32::MAX;
/// URLs up to this many bytes are normalised on the stack; longer ones allocate.
const STACK_URL: usize = 512;

/// One indicator of one list matching one event.
#[derive(Debug, Clone, PartialEq)]
pub struct IocMatch {
    /// The list that matched.
    pub list: Arc<ListMeta>,
    /// The family or campaign (maltrail file name, MISP event info), several joined by `, `
    /// when the same indicator is listed under more than one.
    pub family: Option<String>,
    /// The indicator's precise kind (`hit.indicator_type` is the coarse one).
    pub kind: IndicatorKind,
    /// Indicator as listed, type, list kind, list (`id` or `id: family`), event field, value.
    pub hit: IocHit,
    entry: u32,
}

impl IocMatch {
    /// Identifies (list, indicator) within the set: one match per id per event.
    pub fn indicator_id(&self) -> u32 {
        self.entry
    }
}

/// Suppressions counted for one warninglist since the set was compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The id of the allowlist definition.
    pub list: String,
    /// The warninglist's `name`.
    pub warninglist: String,
    pub ty: super::WarninglistType,
    pub count: u64,
}

/// Sizes of a compiled set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IocStats {
    pub lists: usize,
    pub allowlists: usize,
    /// Distinct (list, indicator) pairs.
    pub indicators: usize,
    pub ips: usize,
    pub ip_ports: usize,
    pub cidrs: usize,
    /// Distinct CIDR prefix lengths (IPv4, IPv6): the probes of a CIDR lookup.
    pub cidr_prefix_lengths: (usize, usize),
    pub domains: usize,
    /// maltrail regex trails (one regex set, one scan of a name).
    pub domain_regexes: usize,
    pub urls: usize,
    pub url_paths: usize,
    pub hashes: usize,
    pub emails: usize,
    /// Approximate heap use of the compiled set, in bytes.
    pub heap_bytes: usize,
}

struct Entry {
    list: u32,
    label: u32,
    kind: IndicatorKind,
    start: u32,
    len: u32,
}

struct Label {
    text: String,
    kind: Option<String>,
}

/// Every loaded list compiled for lookup. `Send + Sync`: share one behind an `Arc`.
#[derive(Default)]
pub struct IocSet {
    lists: Vec<Arc<ListMeta>>,
    entries: Vec<Entry>,
    text: String,
    labels: Vec<Label>,
    extra_labels: FxHashMap<u32, Vec<u32>>,
    postings: Vec<u32>,
    groups: Vec<(u32, u32)>,
    ips: FxHashMap<IpAddr, u32>,
    ip_ports: FxHashMap<(IpAddr, u16), u32>,
    cidrs: CidrTable,
    domains: KeyTable,
    urls: KeyTable,
    paths: KeyTable,
    hashes: KeyTable,
    emails: KeyTable,
    /// maltrail regex trails, searched in domain names, and the group of each.
    regexes: Option<regex::RegexSet>,
    regex_groups: Vec<u32>,
    allow: Vec<Allowlist>,
}

/// What was seen in the event, turned into a string only when something matches.
#[derive(Clone, Copy)]
enum Seen<'a> {
    Ip(IpAddr),
    IpPort(IpAddr, u16),
    /// A name walked as a domain; `value` is the field's value (an e-mail address for the
    /// sender's domain).
    Host {
        value: &'a str,
        host: &'a str,
    },
    Url {
        value: &'a str,
        host: &'a str,
    },
    Text(&'a str),
}

impl Seen<'_> {
    fn value(&self) -> String {
        match *self {
            Seen::Ip(ip) => ip.to_string(),
            Seen::IpPort(IpAddr::V6(a), p) => format!("[{a}]:{p}"),
            Seen::IpPort(ip, p) => format!("{ip}:{p}"),
            Seen::Host { value, .. } | Seen::Url { value, .. } | Seen::Text(value) => {
                value.to_string()
            }
        }
    }
}

struct Cx<'o> {
    out: &'o mut Vec<IocMatch>,
    start: usize,
    suppressed: usize,
    suppressed_ids: Vec<u32>,
}

fn same_host(a: &str, b: &str) -> bool {
    let a = a.strip_suffix('.').unwrap_or(a);
    let b = b.strip_suffix('.').unwrap_or(b);
    a.eq_ignore_ascii_case(b)
}

impl IocSet {
    pub(crate) fn compile(lists: Vec<LoadedList>) -> (IocSet, Vec<ListReport>) {
        let mut set = IocSet::default();
        let mut reports = Vec::with_capacity(lists.len());
        let mut by_key: FxHashMap<Key, Vec<u32>> = FxHashMap::default();
        for (li, l) in lists.into_iter().enumerate() {
            let li = li as u32;
            let LoadedList { meta, collected } = l;
            let base = set.labels.len() as u32;
            for text in &collected.labels {
                set.labels.push(Label {
                    kind: meta.family_kinds.get(text).cloned(),
                    text: text.clone(),
                });
            }
            if meta.role == ListRole::Allowlist {
                for w in collected.warninglists {
                    set.allow.push(Allowlist::compile(li, w));
                }
            }
            let mut report = collected.report;
            let mut distinct = 0;
            for e in collected.entries {
                let label = e.label.map_or(NO_LABEL, |l| base + l);
                let ids = by_key.entry(e.key).or_default();
                if let Some(&id) = ids.iter().find(|&&id| set.entries[id as usize].list == li) {
                    let first = set.entries[id as usize].label;
                    if label != NO_LABEL && label != first {
                        let extra = set.extra_labels.entry(id).or_default();
                        if !extra.contains(&label) {
                            extra.push(label);
                        }
                    }
                    continue;
                }
                let id = set.entries.len() as u32;
                let start = set.text.len() as u32;
                set.text.push_str(&e.display);
                set.entries.push(Entry {
                    list: li,
                    label,
                    kind: IndicatorKind::Ip,
                    start,
                    len: e.display.len() as u32,
                });
                ids.push(id);
                distinct += 1;
            }
            report.distinct = distinct;
            reports.push(report);
            set.lists.push(Arc::new(meta));
        }
        let mut regexes = Vec::new();
        for (key, ids) in by_key {
            let g = set.groups.len() as u32;
            set.groups
                .push((set.postings.len() as u32, ids.len() as u32));
            let kind = key.kind();
            for &id in &ids {
                set.entries[id as usize].kind = kind;
            }
            set.postings.extend_from_slice(&ids);
            let dup = match key {
                Key::Ip(a) => set.ips.insert(a, g),
                Key::IpPort(a, p) => set.ip_ports.insert((a, p), g),
                Key::Cidr(n) => set.cidrs.insert(n, g),
                Key::Domain(d) => set.domains.insert(&d, hash_rev(d.as_bytes()), g),
                Key::DomainRegex(r) => {
                    regexes.push(r);
                    set.regex_groups.push(g);
                    None
                }
                Key::Url(u) => set.urls.insert(&u, hash_fwd(u.as_bytes()), g),
                Key::Path(p) => set.paths.insert(&p, hash_fwd(p.as_bytes()), g),
                Key::Hash(_, h) => set.hashes.insert(&h, hash_fwd(h.as_bytes()), g),
                Key::Email(e) => set.emails.insert(&e, hash_fwd(e.as_bytes()), g),
            };
            debug_assert!(dup.is_none(), "keys are distinct");
        }
        if !regexes.is_empty() {
            let rs = regex::RegexSetBuilder::new(&regexes)
                .case_insensitive(true)
                .build()
                .expect("each regex trail compiled at load");
            set.regexes = Some(rs);
        }
        set.text.shrink_to_fit();
        (set, reports)
    }

    /// Every list loaded (indicator lists and allowlists), in load order.
    pub fn lists(&self) -> &[Arc<ListMeta>] {
        &self.lists
    }

    /// A list by id.
    pub fn list(&self, id: &str) -> Option<&Arc<ListMeta>> {
        self.lists.iter().find(|l| l.id == id)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn stats(&self) -> IocStats {
        IocStats {
            lists: self.lists.len(),
            allowlists: self.allow.len(),
            indicators: self.entries.len(),
            ips: self.ips.len(),
            ip_ports: self.ip_ports.len(),
            cidrs: self.cidrs.len(),
            cidr_prefix_lengths: self.cidrs.prefix_lengths(),
            domains: self.domains.len(),
            domain_regexes: self.regex_groups.len(),
            urls: self.urls.len(),
            url_paths: self.paths.len(),
            hashes: self.hashes.len(),
            emails: self.emails.len(),
            heap_bytes: self.entries.capacity() * std::mem::size_of::<Entry>()
                + self.text.capacity()
                + self.postings.capacity() * 4
                + self.groups.capacity() * 8
                + self.ips.capacity() * 24
                + self.ip_ports.capacity() * 28
                + self.cidrs.heap_bytes()
                + [
                    &self.domains,
                    &self.urls,
                    &self.paths,
                    &self.hashes,
                    &self.emails,
                ]
                .iter()
                .map(|t| t.heap_bytes())
                .sum::<usize>(),
        }
    }

    /// Suppressions per warninglist since the set was compiled.
    pub fn suppressions(&self) -> Vec<Suppression> {
        self.allow
            .iter()
            .map(|a| Suppression {
                list: self.lists[a.list as usize].id.clone(),
                warninglist: a.name.clone(),
                ty: a.ty,
                count: a.count(),
            })
            .collect()
    }

    /// Appends to `out` one [`IocMatch`] per (list, indicator) the event's ECS fields match,
    /// leaving allowlisted ones out; returns how many were suppressed by allowlists. Nothing is
    /// allocated unless something matches (URLs longer than 512 bytes excepted).
    ///
    /// Fields: `source.ip`, `destination.ip` (with their ports for `ip:port` indicators),
    /// `host.ip`, `related.ip`; `dns.question.name`, `url.domain`, `tls.server.sni`,
    /// `related.hosts`; `url.full` (else `url.domain` + `url.path`), `related.url`;
    /// `file.hash.*`, `email.attachments.file.hash.*`, `related.hash`; `email.from.address`
    /// (the address, and its domain against domain indicators).
    pub fn matches(&self, event: &Event, out: &mut Vec<IocMatch>) -> usize {
        self.matches_fields(&IocFields::from(&event.ecs), out)
    }

    /// [`IocSet::matches`] on the fields it reads, borrowed ([`IocFields`]: what the detect
    /// worker decodes from a payload's `ecs` text).
    pub fn matches_fields(&self, e: &IocFields<'_>, out: &mut Vec<IocMatch>) -> usize {
        let mut cx = Cx {
            start: out.len(),
            out,
            suppressed: 0,
            suppressed_ids: Vec::new(),
        };
        let primary = [
            ("source.ip", e.source_ip, e.source_port),
            ("destination.ip", e.destination_ip, e.destination_port),
            ("host.ip", e.host_ip, None),
        ];
        for (field, ip, port) in primary {
            if let Some(ip) = ip {
                self.ip(ip, port, field, None, &mut cx);
            }
        }
        for &ip in e.related.ip.iter() {
            if !primary.iter().any(|p| p.1 == Some(ip)) {
                self.ip(ip, None, "related.ip", None, &mut cx);
            }
        }
        let hosts = [
            ("dns.question.name", e.dns_question_name),
            ("url.domain", e.url_domain),
            ("tls.server.sni", e.tls_sni),
        ];
        for (field, h) in hosts {
            if let Some(h) = h {
                self.host(h, h, field, &mut cx);
            }
        }
        for h in e.related.hosts.iter() {
            if !hosts.iter().any(|p| p.1.is_some_and(|x| same_host(x, h))) {
                self.host(h, h, "related.hosts", &mut cx);
            }
        }
        match (e.url_full, e.url_path) {
            (Some(u), _) => self.url(u, "url.full", &mut cx),
            (None, Some(p)) => {
                let parts = UrlParts {
                    host: e.url_domain.unwrap_or(""),
                    port: None,
                    effective_port: None,
                    rest: p,
                };
                self.url_keys(&parts, p, "url.path", &mut cx);
            }
            _ => {}
        }
        for u in e.related.url.iter() {
            if e.url_full != Some(u) {
                self.url(u, "related.url", &mut cx);
            }
        }
        let files = [
            ("file.hash.md5", e.file_hash_md5),
            ("file.hash.sha1", e.file_hash_sha1),
            ("file.hash.sha256", e.file_hash_sha256),
        ];
        for (field, h) in files {
            if let Some(h) = h {
                self.hash(h, field, &mut cx);
            }
        }
        for a in e.email_attachments.iter() {
            self.hash(a.md5, "email.attachments.file.hash.md5", &mut cx);
            self.hash(a.sha1, "email.attachments.file.hash.sha1", &mut cx);
            self.hash(a.sha256, "email.attachments.file.hash.sha256", &mut cx);
        }
        for h in e.related.hash.iter() {
            let seen = files
                .iter()
                .any(|f| f.1.is_some_and(|x| x.eq_ignore_ascii_case(h)))
                || e.email_attachments.iter().any(|a| {
                    [a.md5, a.sha1, a.sha256]
                        .iter()
                        .any(|x| x.eq_ignore_ascii_case(h))
                });
            if !seen {
                self.hash(h, "related.hash", &mut cx);
            }
        }
        if let Some(from) = e.email_from {
            self.email(from, "email.from.address", &mut cx);
        }
        cx.suppressed
    }

    fn ip(
        &self,
        ip: IpAddr,
        port: Option<u16>,
        field: &'static str,
        url: Option<Seen<'_>>,
        cx: &mut Cx<'_>,
    ) {
        let ip = canonical(ip);
        if let Some(&g) = self.ips.get(&ip) {
            self.hits(g, field, url.unwrap_or(Seen::Ip(ip)), cx);
        }
        self.cidrs.lookup(ip, |g, _| {
            self.hits(g, field, url.unwrap_or(Seen::Ip(ip)), cx)
        });
        if let Some(p) = port {
            if let Some(&g) = self.ip_ports.get(&(ip, p)) {
                self.hits(g, field, url.unwrap_or(Seen::IpPort(ip, p)), cx);
            }
        }
    }

    fn host(&self, value: &str, host: &str, field: &'static str, cx: &mut Cx<'_>) {
        let h = host.trim();
        let first = h.as_bytes().first().copied().unwrap_or(b'.');
        if first.is_ascii_digit() || first == b'[' || h.contains(':') {
            let bare = h
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .unwrap_or(h);
            if let Some(ip) = indicator::ip(bare) {
                let seen = (value != host).then_some(Seen::Host { value, host: h });
                self.ip(ip, None, field, seen, cx);
                return;
            }
        }
        self.domain(h, field, Seen::Host { value, host: h }, cx);
    }

    /// Domain indicators (the name and its parents) and regex trails.
    fn domain(&self, name: &str, field: &'static str, seen: Seen<'_>, cx: &mut Cx<'_>) {
        walk_domain(&self.domains, name, |g, _| self.hits(g, field, seen, cx));
        if let Some(rs) = &self.regexes {
            let name = name.strip_suffix('.').unwrap_or(name);
            if rs.is_match(name) {
                for i in rs.matches(name).iter() {
                    self.hits(self.regex_groups[i], field, seen, cx);
                }
            }
        }
    }

    fn url(&self, u: &str, field: &'static str, cx: &mut Cx<'_>) {
        let Some(parts) = url::split(u) else {
            return;
        };
        let host = parts.bare_host();
        let seen = Seen::Url { value: u, host };
        if let Some(ip) = indicator::ip(host) {
            self.ip(ip, parts.effective_port, field, Some(seen), cx);
        } else {
            self.domain(host, field, seen, cx);
        }
        self.url_keys(&parts, u, field, cx);
    }

    /// URL and path indicators: the normalised URL's prefixes ending at `host[:port]`, at
    /// each `/` of the path, before the query and at the end.
    fn url_keys(&self, parts: &UrlParts<'_>, value: &str, field: &'static str, cx: &mut Cx<'_>) {
        if self.urls.len() == 0 && self.paths.len() == 0 {
            return;
        }
        let cap = parts.key_capacity();
        let mut stack = [0u8; STACK_URL];
        let mut heap = Vec::new();
        let buf: &mut [u8] = if cap <= STACK_URL {
            &mut stack[..cap]
        } else {
            heap.resize(cap, 0);
            &mut heap
        };
        let (n, host_len) = parts.write_key(buf);
        let key = &buf[..n];
        let q = key[host_len..]
            .iter()
            .position(|&b| b == b'?')
            .map_or(n, |i| i + host_len);
        let slashes = (host_len + 1..q).filter(|&i| key[i] == b'/');
        let ends = std::iter::once(q).chain((q < n).then_some(n));
        let seen = Seen::Url {
            value,
            host: parts.bare_host(),
        };
        if host_len > 0 {
            let bounds = std::iter::once(host_len)
                .chain(slashes.clone())
                .chain(ends.clone());
            walk_prefixes(&self.urls, key, 0, bounds, |g, _| {
                self.hits(g, field, seen, cx)
            });
        }
        if key.get(host_len) == Some(&b'/') {
            walk_prefixes(&self.paths, key, host_len, slashes.chain(ends), |g, _| {
                self.hits(g, field, seen, cx)
            });
        }
    }

    fn hash(&self, h: &str, field: &'static str, cx: &mut Cx<'_>) {
        let h = h.trim();
        if h.is_empty() || self.hashes.len() == 0 {
            return;
        }
        if let Some(g) = self.hashes.get(hash_fwd(h.as_bytes()), h.as_bytes()) {
            self.hits(g, field, Seen::Text(h), cx);
        }
    }

    fn email(&self, addr: &str, field: &'static str, cx: &mut Cx<'_>) {
        let a = addr.trim().trim_start_matches('<').trim_end_matches('>');
        if let Some(g) = self.emails.get(hash_fwd(a.as_bytes()), a.as_bytes()) {
            self.hits(g, field, Seen::Text(a), cx);
        }
        if let Some((_, domain)) = a.rsplit_once('@') {
            self.domain(
                domain,
                field,
                Seen::Host {
                    value: a,
                    host: domain,
                },
                cx,
            );
        }
    }

    fn hits(&self, group: u32, field: &'static str, seen: Seen<'_>, cx: &mut Cx<'_>) {
        let (start, len) = self.groups[group as usize];
        for &id in &self.postings[start as usize..(start + len) as usize] {
            if cx.out[cx.start..].iter().any(|m| m.entry == id) || cx.suppressed_ids.contains(&id) {
                continue;
            }
            if let Some(a) = self.allowlisted(id, seen) {
                a.record();
                cx.suppressed += 1;
                cx.suppressed_ids.push(id);
                continue;
            }
            cx.out.push(self.make(id, field, seen));
        }
    }

    fn indicator(&self, e: &Entry) -> &str {
        &self.text[e.start as usize..(e.start + e.len) as usize]
    }

    /// The first allowlist that applies to the entry's class and allows the value seen or the
    /// indicator itself.
    fn allowlisted(&self, id: u32, seen: Seen<'_>) -> Option<&Allowlist> {
        if self.allow.is_empty() {
            return None;
        }
        let e = &self.entries[id as usize];
        let class = e.kind.class();
        let text = seen.value();
        let (ip, host, text) = match seen {
            Seen::Ip(ip) | Seen::IpPort(ip, _) => (Some(ip), None, text.as_str()),
            Seen::Host { host, .. } => (None, Some(host), host),
            Seen::Url { host, value } => (indicator::ip(host), Some(host), value),
            Seen::Text(t) => (None, t.rsplit_once('@').map(|x| x.1), t),
        };
        let value = Probe { text, ip, host };
        let shown = self.indicator(e);
        let key = indicator::classify(shown).ok();
        let key_text;
        let ind = match &key {
            Some(Key::Ip(a)) | Some(Key::IpPort(a, _)) => Some((Some(*a), None, shown)),
            Some(Key::Cidr(n)) => Some((Some(n.network()), None, shown)),
            Some(Key::Domain(d)) => Some((None, Some(d.as_str()), d.as_str())),
            Some(Key::Url(u)) => {
                key_text = url::split(u).map(|p| p.bare_host());
                Some((key_text.and_then(indicator::ip), key_text, u.as_str()))
            }
            Some(Key::Path(p)) => Some((None, None, p.as_str())),
            Some(Key::Hash(_, h)) => Some((None, None, h.as_str())),
            Some(Key::Email(m)) => Some((None, m.rsplit_once('@').map(|x| x.1), m.as_str())),
            Some(Key::DomainRegex(_)) | None => None,
        };
        let ind = ind.map(|(ip, host, text)| Probe { text, ip, host });
        self.allow.iter().find(|a| {
            a.applies_to(class) && (a.allows(&value) || ind.as_ref().is_some_and(|p| a.allows(p)))
        })
    }

    fn make(&self, id: u32, field: &'static str, seen: Seen<'_>) -> IocMatch {
        let e = &self.entries[id as usize];
        let list = self.lists[e.list as usize].clone();
        let mut family: Option<String> = None;
        let mut list_kind = None;
        if e.label != NO_LABEL {
            let first = &self.labels[e.label as usize];
            list_kind = first.kind.clone();
            let mut names = first.text.clone();
            for &l in self.extra_labels.get(&id).into_iter().flatten() {
                names.push_str(", ");
                names.push_str(&self.labels[l as usize].text);
                if list_kind.is_none() {
                    list_kind = self.labels[l as usize].kind.clone();
                }
            }
            family = Some(names);
        }
        let hit = IocHit {
            indicator: self.indicator(e).to_string(),
            indicator_type: e.kind.hit_type().to_string(),
            list_kind: list_kind.unwrap_or_else(|| list.kind.clone()),
            list: match &family {
                Some(f) => format!("{}: {f}", list.id),
                None => list.id.clone(),
            },
            field: field.to_string(),
            value: seen.value(),
        };
        IocMatch {
            list,
            family,
            kind: e.kind,
            hit,
            entry: id,
        }
    }
}
