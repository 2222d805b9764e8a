//! IOC lists and matching: indicators of compromise as first-class rules (brief §5).
//!
//! # Lists
//!
//! A list is described by a definition file ([`definition`], `rules/ioc/*.yaml`): id, title,
//! kind (`phishing`, `malware`, `c2`, `scanner`, …, mapped to a category by the taxonomy's
//! `ioc_kinds`), format, path (file or directory, `${CANHGAC_DATA}` allowed), level and
//! guidance. Formats:
//!
//! - `plain`: one indicator per line, `#` comments, type detected per line ([`indicator`]):
//!   IPv4/IPv6, CIDR, `ip:port`, domain, URL, URL path, md5/sha1/sha256, e-mail address;
//! - `maltrail`: trail files; the family is the file name (`parse.rs`);
//! - `misp-json`, `misp-csv`: MISP events and CSV exports; `to_ids` honoured, the campaign is
//!   the event's `info` (`misp.rs`);
//! - `warninglist`: MISP warninglists, loaded as allowlists ([`warninglist`]).
//!
//! [`IocLoader`] takes definition files, directories and raw list files; a bad line is skipped
//! with a counted [`LoadWarning`] naming file, line and problem; a list that yields nothing, an
//! unreadable file or a malformed definition is an [`IocError`]. [`IocLoader::build`] compiles
//! everything into one [`IocSet`] and returns a [`ListReport`] per list.
//!
//! # Matching and its bounds
//!
//! [`IocSet::matches`] looks at an event's ECS fields (IPs and ports, DNS/URL/TLS names,
//! `related.*`, URLs, file and attachment hashes, the mail sender) and appends one
//! [`IocMatch`] per (list, indicator) — a core [`canhgac_core::detection::IocHit`] plus the
//! list's metadata. Nothing is allocated unless something matches. Per value looked up:
//!
//! | indicator | structure | cost of one lookup |
//! |---|---|---|
//! | IP | hash map | O(1) |
//! | `ip:port` | hash map | O(1) |
//! | CIDR | one hash map per prefix length present | ≤ 33 probes (IPv4), ≤ 129 (IPv6), independent of the number of ranges |
//! | domain (and subdomains) | hash table of lowercased names, hashed backwards | one probe per label, one hash step per byte: O(length) |
//! | maltrail regex trail (3 in the malicious trails) | one `RegexSet` over all of them | one scan of the name by the set's lazy DFA: O(length) |
//! | URL (`host[:port]/path` prefix on segment boundaries) | hash table, hashed forwards | one probe per path segment, one hash step per byte: O(length) |
//! | URL path (`/gate.php`, any host) | same | O(length) |
//! | hash, e-mail address | same | O(length) |
//!
//! Domain and URL probes use an incremental hash (`table.rs`): the hash of every suffix (or
//! prefix) is available after one pass, and keys are compared byte for byte only when the full
//! 64-bit hashes agree, so no lookup depends on the number of indicators loaded.
//!
//! URLs are compared in a normalised form (`url.rs`): scheme, user info and fragment dropped,
//! host lowercased without trailing dot, default port dropped, trailing `/` removed, path and
//! query lowercased (case-insensitive, as maltrail). A URL indicator matches an event URL that
//! equals it or extends it at a `/` or `?` boundary (`evil.example/gate` matches
//! `http://evil.example/gate/x.php?id=1`, not `…/gateway`). A URL indicator without a path is
//! its host (`http://1.2.3.4` is the IP 1.2.3.4, `http://evil.example` the domain).
//!
//! Allowlists: a match whose value (or indicator) a warninglist allows — an IP in `rfc1918`, a
//! hash in `empty-hashes`, a URL on a `url-shortener` host — is dropped and counted
//! ([`IocSet::suppressions`], and the return value of [`IocSet::matches`]).
//!
//! # Use
//!
//! ```no_run
//! # use canhgac_detect::ioc::*;
//! let mut loader = IocLoader::new().var("CANHGAC_DATA", "../shared/data");
//! loader.add_path("rules/ioc".as_ref()).unwrap();
//! let (set, reports) = loader.build();
//! let mut out = Vec::new();
//! # let event: canhgac_core::Event = todo!();
//! set.matches(&event, &mut out);
//! for m in &out {
//!     let rule = m.list.rule_ref(); // id, title, level, author, kind: Ioc
//!     println!("{} {} {} = {}", rule.id, m.hit.indicator, m.hit.field, m.hit.value);
//! }
//! ```

mod collect;
pub mod definition;
mod error;
pub mod fields;
pub mod indicator;
mod loader;
mod misp;
mod parse;
mod set;
mod table;
mod url;
pub mod warninglist;

pub use collect::ListReport;
pub use definition::{ListFormat, ListMeta, ListRole};
pub use error::{IocError, LoadWarning};
pub use fields::IocFields;
pub use indicator::IndicatorKind;
pub use loader::{detect_format, IocLoader};
pub use set::{IocMatch, IocSet, IocStats, Suppression};
pub use warninglist::WarninglistType;
