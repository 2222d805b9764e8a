//! Events read straight from their JSON text, without building a `serde_json::Value`.
//!
//! Decoding a record into a `Value` costs about three times its evaluation: every key and
//! string allocated, every object an `IndexMap` hashed with SipHash (the `evtx` crate turns on
//! `preserve_order`), all of it freed again. `FlatRecord::read` walks the text once with the
//! pull parser of [`scan`] and keeps, in reused buffers:
//!
//! - the text of every scalar (strings unescaped, numbers as `Value` prints them), each
//!   followed by a `0xFF` byte (nulls have no text and no separator);
//! - the fields the extraction of `crate::extract` would report, in the same order, named
//!   the same way (evtx `System` attributes as `Provider_Name`, `EventData`'s `Data` items by
//!   their `Name`, `UserData` members; dotted paths for flat records);
//! - the keyword text (every scalar, lowercased, `0xFF`-separated), as `join_scalars` builds
//!   it. For an all-ASCII record it is the scalar text lowercased in one pass, so a scalar's
//!   folded range equals its original one.
//!
//! What this walk does not reproduce it declines ([`Declined`]), and the caller decodes a
//! `Value` instead: Winlogbeat records (a `winlog` object) and evtx-layout records with an
//! `Event` object after other members, flat records holding XML-style objects (`#text`
//! members below the top level), and text the parser is unsure of (see [`scan`]).
//! The tests check that both ways give the same fields and keyword text on every record of
//! the shared data sets.

use std::fmt;

use crate::compile::SlotTable;
use crate::extract::NONE;
use crate::mapping::Layout;
use crate::modifiers::string::fold_into;

pub mod scan;

use scan::{Parser, MAX_DEPTH};

/// Slot of values whose field name is not known yet (a `Data` item's `#text` before its
/// `Name` attribute).
const PENDING: u32 = u32::MAX - 1;

/// One scalar of the record: a byte range of [`FlatRecord::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scalar {
    pub start: u32,
    pub end: u32,
    pub null: bool,
    /// Its case-folded text: a range of [`FlatRecord::kw`] (empty for a null).
    pub low: (u32, u32),
}

/// A record's scalars, referenced fields and keyword text. Reuse one per thread.
#[derive(Debug, Default)]
pub struct FlatRecord {
    /// Every scalar's text, each non-null one followed by `0xFF`.
    pub(crate) text: Vec<u8>,
    /// Every scalar, in document order (nulls included, flagged).
    pub(crate) scalars: Vec<Scalar>,
    /// `(slot, scalar)` for each referenced field value, in extraction order.
    pub(crate) fields: Vec<(u32, Scalar)>,
    /// Every non-null scalar, ASCII-lowercased (other text case-folded), each followed by
    /// `0xFF`.
    pub(crate) kw: Vec<u8>,
    name: String,
}

/// The walk does not handle this record's shape; decode a `Value` instead.
#[derive(Debug)]
pub struct Declined(pub String);

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Declined {}

/// A [`Declined`] result with the reason `why`.
pub fn decline<T>(why: &str) -> Result<T, Declined> {
    Err(Declined(why.to_string()))
}

impl FlatRecord {
    pub fn new() -> Self {
        FlatRecord {
            text: Vec::with_capacity(4096),
            scalars: Vec::with_capacity(128),
            fields: Vec::with_capacity(64),
            kw: Vec::with_capacity(4096),
            name: String::with_capacity(64),
        }
    }

    /// Reads one JSON record laid out as `layout`, naming fields with `slots`. On `Err`, the
    /// record is either not JSON or not a shape this walk handles; the buffers are then
    /// meaningless.
    pub(crate) fn read(
        &mut self,
        json: &str,
        layout: Layout,
        slots: &SlotTable,
    ) -> Result<(), Declined> {
        self.text.clear();
        self.scalars.clear();
        self.fields.clear();
        self.kw.clear();
        let mut walk = Walk {
            rec: self,
            slots,
            p: Parser::new(json),
            depth: 0,
        };
        walk.value(Ctx::Root(layout))?;
        walk.p.end()?;
        let ascii = walk.p.ascii;
        self.keyword_text(ascii);
        Ok(())
    }

    /// Records a scalar whose text is at `start..` of [`FlatRecord::text`] and reports it to
    /// `slot`. Its folded range is set by [`FlatRecord::keyword_text`].
    #[inline]
    fn scalar(&mut self, start: usize, null: bool, slot: u32) {
        let end = self.text.len() as u32;
        let s = Scalar {
            start: start as u32,
            end,
            null,
            low: (start as u32, end),
        };
        if !null {
            self.text.push(0xFF);
        }
        self.scalars.push(s);
        if slot != NONE {
            self.fields.push((slot, s));
        }
    }

    /// Builds [`FlatRecord::kw`]: the text lowercased in one pass when every string was
    /// ASCII (the folded ranges are then the original ones), each scalar folded on its own
    /// otherwise (folding may change lengths).
    fn keyword_text(&mut self, ascii: bool) {
        if ascii {
            self.kw.extend_from_slice(&self.text);
            self.kw.make_ascii_lowercase();
            return;
        }
        for s in &mut self.scalars {
            let at = self.kw.len();
            if !s.null {
                let t = &self.text[s.start as usize..s.end as usize];
                if t.is_ascii() {
                    self.kw.extend_from_slice(t);
                    self.kw[at..].make_ascii_lowercase();
                } else {
                    fold_into(t, &mut self.kw);
                }
            }
            s.low = (at as u32, self.kw.len() as u32);
            if !s.null {
                self.kw.push(0xFF);
            }
        }
        let scalars = &self.scalars;
        for (_, f) in self.fields.iter_mut().filter(|(_, f)| !f.null) {
            // Non-null scalars start at distinct offsets (each ends with a separator); a
            // null may share its offset with the scalar after it.
            let i = scalars.partition_point(|s| s.start < f.start);
            if let Some(s) = scalars[i..]
                .iter()
                .take_while(|s| s.start == f.start)
                .find(|s| !s.null)
            {
                f.low = s.low;
            }
        }
    }
}

/// Where in the record a value sits, which decides the field it reports to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root(Layout),
    /// Scalars go only to the keyword text.
    Ignore,
    /// A field's value: scalars report to the slot; arrays report each element
    /// ([`Ctx::Element`]); objects their `#text`.
    Value(u32),
    /// An array element of a field's value: nested arrays are skipped.
    Element(u32),
    Event,
    System,
    /// `System.<k>` object: `#text` reports to `k`, `#attributes` members to `k_<name>`.
    SystemChild,
    Attributes,
    EventData,
    DataList,
    DataItem,
    /// A `Data` item's `#attributes`: reads `Name`.
    DataAttributes,
    UserData,
    UserDataInner,
    /// Members of a flat object; the path so far is in `FlatRecord::name`.
    Flat,
}

struct Walk<'r, 's, 'j> {
    rec: &'r mut FlatRecord,
    slots: &'s SlotTable,
    p: Parser<'j>,
    depth: u32,
}

/// What a walk found that its parent needs: the `Name` of a `Data` item.
enum Found {
    Nothing,
    Name(u32),
}

impl Walk<'_, '_, '_> {
    fn slot_of(&self, name: &str) -> u32 {
        self.slots.get(name).unwrap_or(NONE)
    }

    /// The slot a scalar in this context reports to.
    fn scalar_slot(&self, ctx: Ctx) -> u32 {
        match ctx {
            Ctx::Value(s) | Ctx::Element(s) => s,
            Ctx::Root(_) => self.slot_of("message"),
            Ctx::DataList | Ctx::DataItem => self.slot_of("Data"),
            _ => NONE,
        }
    }

    /// The context of the value under `key` in a map walked in context `parent`.
    fn member_ctx(&self, key: &str, parent: Ctx) -> Ctx {
        match parent {
            Ctx::Event => match key {
                "System" => Ctx::System,
                "EventData" => Ctx::EventData,
                "UserData" => Ctx::UserData,
                _ => Ctx::Ignore,
            },
            Ctx::EventData => match key {
                "#attributes" => Ctx::Ignore,
                "Data" => Ctx::DataList,
                _ => Ctx::Value(self.slot_of(key)),
            },
            Ctx::UserData => Ctx::UserDataInner,
            Ctx::UserDataInner if key == "#attributes" => Ctx::Ignore,
            Ctx::UserDataInner => Ctx::Value(self.slot_of(key)),
            Ctx::DataAttributes if key == "Name" => Ctx::Ignore,
            Ctx::Value(s) | Ctx::Element(s) if key == "#text" => Ctx::Value(s),
            _ => Ctx::Ignore,
        }
    }

    /// One value, in context `ctx`.
    fn value(&mut self, ctx: Ctx) -> Result<Found, Declined> {
        match self.p.peek()? {
            c @ (b'{' | b'[') => {
                if self.depth == MAX_DEPTH {
                    return decline("nested too deeply");
                }
                self.depth += 1;
                let found = if c == b'{' {
                    self.object(ctx)?
                } else {
                    self.array(ctx)?;
                    Found::Nothing
                };
                self.depth -= 1;
                Ok(found)
            }
            c => {
                if ctx == Ctx::Event {
                    // `{"Event": "..."}` is read as a flat record by the `Value` path.
                    return decline("Event is not an object");
                }
                let slot = self.scalar_slot(ctx);
                self.scalar(c, slot)
            }
        }
    }

    /// A scalar (at its peeked first byte `c`), reported to `slot`.
    #[inline]
    fn scalar(&mut self, c: u8, slot: u32) -> Result<Found, Declined> {
        let text = &mut self.rec.text;
        let start = text.len();
        let null = match c {
            b'"' => {
                self.p.string_into(text)?;
                false
            }
            b't' => {
                self.p.literal(b"true")?;
                text.extend_from_slice(b"true");
                false
            }
            b'f' => {
                self.p.literal(b"false")?;
                text.extend_from_slice(b"false");
                false
            }
            b'n' => {
                self.p.literal(b"null")?;
                true
            }
            _ => {
                self.p.number_into(text)?;
                false
            }
        };
        self.rec.scalar(start, null, slot);
        Ok(Found::Nothing)
    }

    /// A member's value: an object is walked in `map_ctx`, anything else is the value of
    /// `slot`. With `decline_map`, an object declines the record.
    fn member_value(&mut self, map_ctx: Ctx, slot: u32, decline_map: bool) -> Result<(), Declined> {
        match self.p.peek()? {
            b'{' if decline_map => decline("an Event or winlog object after other members"),
            b'{' => self.value(map_ctx).map(drop),
            b'[' => self.value(Ctx::Value(slot)).map(drop),
            c => self.scalar(c, slot).map(drop),
        }
    }

    fn array(&mut self, ctx: Ctx) -> Result<(), Declined> {
        if ctx == Ctx::Event {
            return decline("Event is not an object");
        }
        let child = match ctx {
            Ctx::Value(s) => Ctx::Element(s),
            Ctx::Root(_) => Ctx::Element(self.slot_of("message")),
            Ctx::DataList => Ctx::DataItem,
            Ctx::DataItem => Ctx::Element(self.slot_of("Data")),
            // An array inside an array element, or anywhere else: keyword text only.
            _ => Ctx::Ignore,
        };
        if self.p.array_first()? {
            loop {
                self.value(child)?;
                if !self.p.array_next()? {
                    break;
                }
            }
        }
        Ok(())
    }

    fn object(&mut self, ctx: Ctx) -> Result<Found, Declined> {
        let parent = match ctx {
            Ctx::Root(Layout::Evtx) => return self.evtx_root(),
            Ctx::Root(Layout::Flat) => {
                self.rec.name.clear();
                Ctx::Flat
            }
            Ctx::DataList | Ctx::DataItem => return self.data_item(),
            other => other,
        };
        let mut found = Found::Nothing;
        let mut next = self.p.object_first()?;
        while let Some(key) = next {
            match parent {
                Ctx::Flat => self.flat_member(&key, false)?,
                // Members of `System.<k>`: the owner's name is in `name`.
                Ctx::SystemChild => {
                    let ctx = match &*key {
                        "#text" => Ctx::Value(self.slot_of(&self.rec.name)),
                        "#attributes" => Ctx::Attributes,
                        _ => Ctx::Ignore,
                    };
                    self.value(ctx)?;
                }
                Ctx::Attributes => {
                    let len = self.rec.name.len();
                    self.rec.name.push('_');
                    self.rec.name.push_str(&key);
                    let slot = self.slot_of(&self.rec.name);
                    self.rec.name.truncate(len);
                    self.value(Ctx::Value(slot))?;
                }
                Ctx::System => {
                    // The member's name, for its `#text`/`#attributes` if it is an object.
                    self.rec.name.clear();
                    self.rec.name.push_str(&key);
                    let slot = self.slot_of(&key);
                    self.member_value(Ctx::SystemChild, slot, false)?;
                }
                Ctx::DataAttributes if key == "Name" && matches!(found, Found::Nothing) => {
                    found = self.name_of()?;
                }
                _ => {
                    let ctx = self.member_ctx(&key, parent);
                    self.value(ctx)?;
                }
            }
            next = self.p.object_next()?;
        }
        Ok(found)
    }

    /// evtx_dump's records are `{"Event": {...}}`; flat ones (NXLog, or events already
    /// flattened to Sigma field names) are read as flat records; Winlogbeat (`winlog`) goes
    /// through a decoded `Value`.
    fn evtx_root(&mut self) -> Result<Found, Declined> {
        let Some(first) = self.p.object_first()? else {
            return Ok(Found::Nothing);
        };
        if first != "Event" {
            // An `Event` or `winlog` object would make it another shape (decline); any other
            // value under those names is a flat field like the rest.
            let special = |k: &str| k == "Event" || k == "winlog";
            self.rec.name.clear();
            self.flat_member(&first, special(&first))?;
            while let Some(key) = self.p.object_next()? {
                self.flat_member(&key, special(&key))?;
            }
            return Ok(Found::Nothing);
        }
        self.value(Ctx::Event)?;
        // Anything after `Event` is not extracted, only searched by keywords.
        while let Some(key) = self.p.object_next()? {
            if key == "Event" {
                return decline("two Event members");
            }
            self.value(Ctx::Ignore)?;
        }
        Ok(Found::Nothing)
    }

    /// One member of a flat object (its path so far in `rec.name`): an object below goes on
    /// extending the path, anything else is the field's value.
    fn flat_member(&mut self, key: &str, decline_map: bool) -> Result<(), Declined> {
        if key == "#text" && !self.rec.name.is_empty() {
            return decline("XML-style object in a flat record");
        }
        let len = self.rec.name.len();
        if len == 0 && self.p.peek()? != b'{' {
            // A top-level field: its name is the key.
            let slot = self.slot_of(key);
            return self.member_value(Ctx::Flat, slot, decline_map);
        }
        if len > 0 {
            self.rec.name.push('.');
        }
        self.rec.name.push_str(key);
        let slot = self.slot_of(&self.rec.name);
        self.member_value(Ctx::Flat, slot, decline_map)?;
        self.rec.name.truncate(len);
        Ok(())
    }

    /// The value of a `Data` item's `Name` attribute: its slot when it is a string.
    fn name_of(&mut self) -> Result<Found, Declined> {
        if self.p.peek()? != b'"' {
            self.value(Ctx::Ignore)?;
            return Ok(Found::Nothing);
        }
        let start = self.rec.text.len();
        self.p.string_into(&mut self.rec.text)?;
        let slot = match std::str::from_utf8(&self.rec.text[start..]) {
            Ok(name) => self.slot_of(name),
            Err(_) => return decline("invalid Name"),
        };
        self.rec.scalar(start, false, NONE);
        Ok(Found::Name(slot))
    }

    /// A `Data` item: `{"#attributes": {"Name": N}, "#text": V}` reports `V` to `N` (to
    /// `Data` without a name; a null when there is no `#text`).
    fn data_item(&mut self) -> Result<Found, Declined> {
        let mut name: Option<u32> = None;
        let mut text_seen = false;
        let mut pending_from: Option<usize> = None;
        let mut next = self.p.object_first()?;
        while let Some(key) = next {
            match &*key {
                "#attributes" if name.is_none() => {
                    if let Found::Name(s) = self.value(Ctx::DataAttributes)? {
                        name = Some(s);
                    }
                }
                "#text" if !text_seen => {
                    text_seen = true;
                    let slot = match name {
                        Some(s) => s,
                        None => {
                            pending_from = Some(self.rec.fields.len());
                            PENDING
                        }
                    };
                    self.value(Ctx::Value(slot))?;
                }
                _ => {
                    self.value(Ctx::Ignore)?;
                }
            }
            next = self.p.object_next()?;
        }
        let slot = name.unwrap_or_else(|| self.slot_of("Data"));
        if let Some(from) = pending_from {
            if slot == NONE {
                self.rec.fields.truncate(from);
            } else {
                for f in &mut self.rec.fields[from..] {
                    f.0 = slot;
                }
            }
        }
        if !text_seen && slot != NONE {
            let at = self.rec.text.len() as u32;
            self.rec.fields.push((
                slot,
                Scalar {
                    start: at,
                    end: at,
                    null: true,
                    low: (at, at),
                },
            ));
        }
        Ok(Found::Nothing)
    }
}

#[cfg(test)]
mod tests;
