//! Per-event field extraction: one walk over the event's `original` JSON, keeping only the
//! fields some loaded rule or mapping references, each value copied once and case-folded
//! once into a reused buffer. Nothing here allocates once the buffers have grown.

use std::io::Write as _;

use serde_json::{Map, Value};

use crate::compile::{SlotTable, KEYWORD_SLOT};
use crate::mapping::Layout;
use crate::modifiers::string::fold_into;

pub(crate) const NONE: u32 = u32::MAX;

/// One value of a field: byte ranges of its original and case-folded text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Val {
    pub orig: (u32, u32),
    pub low: (u32, u32),
    pub null: bool,
    pub next: u32,
}

/// The extracted fields of the current event.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    pub text: Vec<u8>,
    pub vals: Vec<Val>,
    pub head: Vec<u32>,
    pub touched: Vec<u32>,
    tmp: Vec<u8>,
}

impl Fields {
    pub fn new(n_slots: usize) -> Fields {
        Fields {
            text: Vec::with_capacity(16 << 10),
            vals: Vec::with_capacity(256),
            head: vec![NONE; n_slots],
            touched: Vec::with_capacity(64),
            tmp: Vec::with_capacity(1024),
        }
    }

    pub fn reset(&mut self) {
        for &s in &self.touched {
            self.head[s as usize] = NONE;
        }
        self.touched.clear();
        self.vals.clear();
        self.text.clear();
    }

    #[inline]
    pub fn has(&self, slot: u32) -> bool {
        self.head[slot as usize] != NONE
    }

    #[inline]
    pub fn values(&self, slot: u32) -> ValIter<'_> {
        ValIter {
            f: self,
            cur: self.head[slot as usize],
        }
    }

    #[inline]
    pub fn orig(&self, v: &Val) -> &[u8] {
        &self.text[v.orig.0 as usize..v.orig.1 as usize]
    }

    #[inline]
    pub fn low(&self, v: &Val) -> &[u8] {
        &self.text[v.low.0 as usize..v.low.1 as usize]
    }

    fn link(&mut self, slot: u32, orig: (u32, u32), low: (u32, u32), null: bool) {
        let h = &mut self.head[slot as usize];
        if *h == NONE {
            self.touched.push(slot);
        }
        self.vals.push(Val {
            orig,
            low,
            null,
            next: *h,
        });
        *h = self.vals.len() as u32 - 1;
    }

    /// Appends `start..` of `text` as a value of `slot`, folding it when needed.
    fn finish(&mut self, slot: u32, start: usize, null: bool) {
        let end = self.text.len();
        let needs_fold = self.text[start..end]
            .iter()
            .any(|b| b.is_ascii_uppercase() || *b >= 0x80);
        let low = if needs_fold {
            self.tmp.clear();
            fold_into(&self.text[start..end], &mut self.tmp);
            self.text.extend_from_slice(&self.tmp);
            (end as u32, self.text.len() as u32)
        } else {
            (start as u32, end as u32)
        };
        self.link(slot, (start as u32, end as u32), low, null);
    }

    /// Appends a text buffer whose ranges [`Fields::push_ranges`] then refers to; returns
    /// where it starts.
    pub fn append(&mut self, text: &[u8]) -> u32 {
        let at = self.text.len() as u32;
        self.text.extend_from_slice(text);
        at
    }

    /// Records a value whose original and case-folded texts are already in the buffer.
    pub fn push_ranges(&mut self, slot: u32, orig: (u32, u32), low: (u32, u32), null: bool) {
        self.link(slot, orig, low, null);
    }

    /// Pushes a scalar's text (`null`: a JSON null, whose text is empty).
    pub fn push_text(&mut self, slot: u32, text: &[u8], null: bool) {
        let start = self.text.len();
        self.text.extend_from_slice(text);
        self.finish(slot, start, null);
    }

    /// Pushes a JSON value: scalars, each element of an array, or an object's `#text`.
    pub fn push_json(&mut self, slot: u32, v: &Value) {
        let start = self.text.len();
        match v {
            Value::String(s) => {
                self.text.extend_from_slice(s.as_bytes());
                self.finish(slot, start, false);
            }
            Value::Number(n) => {
                match n.as_u64() {
                    Some(u) => push_u64(&mut self.text, u),
                    None => {
                        let _ = write!(self.text, "{n}");
                    }
                }
                self.finish(slot, start, false);
            }
            Value::Bool(b) => {
                self.text
                    .extend_from_slice(if *b { b"true" } else { b"false" });
                self.finish(slot, start, false);
            }
            Value::Null => self.finish(slot, start, true),
            Value::Array(items) => {
                for x in items {
                    if !x.is_array() {
                        self.push_json(slot, x);
                    }
                }
            }
            Value::Object(m) => {
                if let Some(t) = m.get("#text") {
                    self.push_json(slot, t);
                }
            }
        }
    }

    /// Makes every value of `from` also a value of `to` (a field rename).
    pub fn alias(&mut self, from: u32, to: u32) {
        let mut cur = self.head[from as usize];
        while cur != NONE {
            let v = self.vals[cur as usize];
            self.link(to, v.orig, v.low, v.null);
            cur = v.next;
        }
    }
}

pub(crate) struct ValIter<'a> {
    f: &'a Fields,
    cur: u32,
}

impl<'a> Iterator for ValIter<'a> {
    type Item = &'a Val;
    #[inline]
    fn next(&mut self) -> Option<&'a Val> {
        if self.cur == NONE {
            return None;
        }
        let v = &self.f.vals[self.cur as usize];
        self.cur = v.next;
        Some(v)
    }
}

/// Walks an event record and reports each field some rule or mapping references, as
/// `(slot, value)`, to `sink`.
pub(crate) struct Extractor<'s, 'p, F> {
    pub slots: &'s SlotTable,
    pub path: &'p mut String,
    pub sink: F,
}

impl<'e, F: FnMut(u32, &'e Value)> Extractor<'_, '_, F> {
    #[inline]
    fn emit(&mut self, name: &str, v: &'e Value) {
        if let Some(slot) = self.slots.get(name) {
            (self.sink)(slot, v);
        }
    }

    fn emit_joined(&mut self, a: &str, b: &str, v: &'e Value) {
        self.path.clear();
        self.path.push_str(a);
        self.path.push('_');
        self.path.push_str(b);
        if let Some(slot) = self.slots.get(self.path.as_str()) {
            (self.sink)(slot, v);
        }
    }

    pub fn run(&mut self, layout: Layout, original: &'e Value) {
        let Value::Object(root) = original else {
            self.emit("message", original);
            return;
        };
        if layout == Layout::Evtx {
            if let Some(Value::Object(ev)) = member(root, "Event") {
                self.evtx(ev);
                return;
            }
            if let Some(Value::Object(w)) = member(root, "winlog") {
                self.winlog(w);
            }
        }
        self.path.clear();
        self.flat(root);
    }

    fn evtx(&mut self, ev: &'e Map<String, Value>) {
        if let Some(Value::Object(sys)) = member(ev, "System") {
            for (k, v) in sys {
                match v {
                    Value::Object(o) => {
                        for (ok, ov) in o {
                            match (ok.as_str(), ov) {
                                ("#text", t) => self.emit(k, t),
                                ("#attributes", Value::Object(attrs)) => {
                                    for (a, av) in attrs {
                                        self.emit_joined(k, a, av);
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => self.emit(k, v),
                }
            }
        }
        if let Some(Value::Object(data)) = member(ev, "EventData") {
            self.event_data(data);
        }
        if let Some(Value::Object(ud)) = member(ev, "UserData") {
            for inner in ud.values() {
                if let Value::Object(i) = inner {
                    for (k, v) in i {
                        if k != "#attributes" {
                            self.emit(k, v);
                        }
                    }
                }
            }
        }
    }

    fn event_data(&mut self, data: &'e Map<String, Value>) {
        for (k, v) in data {
            match k.as_str() {
                "#attributes" => {}
                "Data" => match v {
                    Value::Array(items) => {
                        for it in items {
                            self.data_item(it);
                        }
                    }
                    other => self.data_item(other),
                },
                _ => self.emit(k, v),
            }
        }
    }

    fn data_item(&mut self, it: &'e Value) {
        if let Value::Object(m) = it {
            let name = match member(m, "#attributes") {
                Some(Value::Object(a)) => member(a, "Name").and_then(Value::as_str),
                _ => None,
            };
            let val = member(m, "#text").unwrap_or(&NULL);
            match name {
                Some(n) => self.emit(n, val),
                None => self.emit("Data", val),
            }
        } else {
            self.emit("Data", it);
        }
    }

    fn winlog(&mut self, w: &'e Map<String, Value>) {
        for (k, v) in w {
            match k.as_str() {
                "event_data" | "user_data" => {
                    if let Value::Object(d) = v {
                        for (k, v) in d {
                            self.emit(k, v);
                        }
                    }
                }
                "event_id" => self.emit("EventID", v),
                "channel" => self.emit("Channel", v),
                "provider_name" => self.emit("Provider_Name", v),
                "computer_name" => self.emit("Computer", v),
                "record_id" => self.emit("EventRecordID", v),
                _ => {}
            }
        }
    }

    fn flat(&mut self, m: &'e Map<String, Value>) {
        for (k, v) in m {
            let len = self.path.len();
            if len > 0 {
                self.path.push('.');
            }
            self.path.push_str(k);
            match v {
                Value::Object(inner) if !inner.contains_key("#text") => self.flat(inner),
                _ => {
                    if let Some(slot) = self.slots.get(self.path.as_str()) {
                        (self.sink)(slot, v);
                    }
                }
            }
            self.path.truncate(len);
        }
    }
}

static NULL: Value = Value::Null;

/// `m.get(key)` for the small objects of an event record (a few members): comparing keys in
/// order is cheaper than hashing the key (serde_json's map here is an `IndexMap` with SipHash,
/// because the `evtx` crate turns on `preserve_order`).
#[inline]
fn member<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if m.len() <= 8 {
        m.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        m.get(key)
    }
}

/// Every scalar of the record into the keyword slot, for keyword searches.
pub(crate) fn keywords(fields: &mut Fields, v: &Value) {
    match v {
        Value::Object(m) => {
            for x in m.values() {
                keywords(fields, x);
            }
        }
        Value::Array(a) => {
            for x in a {
                keywords(fields, x);
            }
        }
        Value::Null => {}
        scalar => fields.push_json(KEYWORD_SLOT, scalar),
    }
}

/// Appends the text of every scalar of the record to `buf`, each followed by `0xFF` (a byte
/// UTF-8 text never holds), so one automaton pass covers the whole event without matching
/// across values. ASCII text is lowercased as it is copied (cheap, and the keyword
/// prefilter compares exact bytes); other text is case-folded.
pub(crate) fn join_scalars(v: &Value, buf: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            for x in m.values() {
                join_scalars(x, buf);
            }
        }
        Value::Array(a) => {
            for x in a {
                join_scalars(x, buf);
            }
        }
        Value::Null => {}
        Value::String(s) => {
            let b = s.as_bytes();
            if b.is_ascii() {
                let at = buf.len();
                buf.extend_from_slice(b);
                buf[at..].make_ascii_lowercase();
            } else {
                fold_into(b, buf);
            }
            buf.push(0xFF);
        }
        Value::Number(n) => {
            match n.as_u64() {
                Some(u) => push_u64(buf, u),
                None => {
                    let _ = write!(buf, "{n}");
                }
            }
            buf.push(0xFF);
        }
        Value::Bool(b) => {
            buf.extend_from_slice(if *b { b"true\xff" } else { b"false\xff" });
        }
    }
}

/// Decimal digits of `u` (what `Display` prints), without the formatting machinery.
pub(crate) fn push_u64(buf: &mut Vec<u8>, mut u: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}
