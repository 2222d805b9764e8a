//! Events read straight from their JSON text, without building a `serde_json::Value`.
//!
//! Decoding a record into a `Value` costs about three times its evaluation: every key and
//! string allocated, every object an `IndexMap` hashed with SipHash (the `evtx` crate turns on
//! `preserve_order`), all of it freed again. `FlatRecord::read` walks the text once with
//! serde_json's tokenizer and keeps, in reused buffers:
//!
//! - the text of every scalar (strings unescaped, numbers as `Value` prints them);
//! - the fields the extraction of `crate::extract` would report, in the same order, named
//!   the same way (evtx `System` attributes as `Provider_Name`, `EventData`'s `Data` items by
//!   their `Name`, `UserData` members; dotted paths for flat records);
//! - the keyword text (every scalar, lowercased, `0xFF`-separated), as `join_scalars` builds
//!   it.
//!
//! What this walk does not reproduce it declines ([`Declined`]), and the caller decodes a
//! `Value` instead: Winlogbeat records (a `winlog` object) and evtx-layout records with an
//! `Event` object after other members, and flat records holding XML-style objects (`#text`
//! members below the top level).
//! The tests below check that both ways give the same fields and keyword text on every record
//! of the shared data sets.

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::compile::SlotTable;
use crate::extract::{push_u64, NONE};
use crate::mapping::Layout;
use crate::modifiers::string::fold_into;

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

impl de::Error for Declined {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Declined(msg.to_string())
    }
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
        let mut de = serde_json::Deserializer::from_str(json);
        let walk = Walk {
            rec: self,
            slots,
            ctx: Ctx::Root(layout),
        };
        walk.deserialize(&mut de)
            .map_err(|e| Declined(e.to_string()))?;
        de.end().map_err(|e| Declined(e.to_string()))
    }

    /// Records a scalar (its text is already at `start..`) and reports it to `slot`.
    fn scalar(&mut self, start: usize, null: bool, slot: u32) {
        let at = self.kw.len();
        if !null {
            let t = &self.text[start..];
            if t.is_ascii() {
                self.kw.extend_from_slice(t);
                self.kw[at..].make_ascii_lowercase();
            } else {
                fold_into(t, &mut self.kw);
            }
        }
        let s = Scalar {
            start: start as u32,
            end: self.text.len() as u32,
            null,
            low: (at as u32, self.kw.len() as u32),
        };
        if !null {
            self.kw.push(0xFF);
        }
        self.scalars.push(s);
        if slot != NONE {
            self.fields.push((slot, s));
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

struct Walk<'r, 's> {
    rec: &'r mut FlatRecord,
    slots: &'s SlotTable,
    ctx: Ctx,
}

/// What a walk found that its parent needs: the `Name` of a `Data` item.
enum Found {
    Nothing,
    Name(u32),
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = Found;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

/// A map key, borrowed from the input unless it holds escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

impl<'s> Walk<'_, 's> {
    fn slot_of(&self, name: &str) -> u32 {
        self.slots.get(name).unwrap_or(NONE)
    }

    /// The slot a scalar in this context reports to.
    fn scalar_slot(&self) -> u32 {
        match self.ctx {
            Ctx::Value(s) | Ctx::Element(s) => s,
            Ctx::Root(_) => self.slot_of("message"),
            Ctx::DataList | Ctx::DataItem => self.slot_of("Data"),
            _ => NONE,
        }
    }

    fn child(&mut self, ctx: Ctx) -> Walk<'_, 's> {
        Walk {
            rec: self.rec,
            slots: self.slots,
            ctx,
        }
    }

    fn done_scalar<E: de::Error>(self, start: usize, null: bool) -> Result<Found, E> {
        if self.ctx == Ctx::Event {
            // `{"Event": "..."}` is read as a flat record by the `Value` path.
            return Err(E::custom("Event is not an object"));
        }
        let slot = self.scalar_slot();
        self.rec.scalar(start, null, slot);
        Ok(Found::Nothing)
    }

    fn text_scalar<E: de::Error>(self, s: &str) -> Result<Found, E> {
        let start = self.rec.text.len();
        self.rec.text.extend_from_slice(s.as_bytes());
        self.done_scalar(start, false)
    }

    /// The context of the value under `key` in a map walked in context `self.ctx`.
    fn member_ctx(&mut self, key: &str, parent: Ctx) -> Ctx {
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
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON record")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Found, E> {
        self.text_scalar(if v { "true" } else { "false" })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Found, E> {
        let start = self.rec.text.len();
        push_u64(&mut self.rec.text, v);
        self.done_scalar(start, false)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Found, E> {
        let start = self.rec.text.len();
        let _ = write!(self.rec.text, "{}", serde_json::Number::from(v));
        self.done_scalar(start, false)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Found, E> {
        let start = self.rec.text.len();
        match serde_json::Number::from_f64(v) {
            Some(n) => {
                let _ = write!(self.rec.text, "{n}");
            }
            None => return Err(E::custom("non-finite number")),
        }
        self.done_scalar(start, false)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Found, E> {
        self.text_scalar(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        let start = self.rec.text.len();
        self.done_scalar(start, true)
    }

    fn visit_none<E: de::Error>(self) -> Result<Found, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Found, A::Error> {
        if self.ctx == Ctx::Event {
            return Err(de::Error::custom("Event is not an object"));
        }
        let ctx = match self.ctx {
            Ctx::Value(s) => Ctx::Element(s),
            Ctx::Root(_) => Ctx::Element(self.slot_of("message")),
            Ctx::DataList => Ctx::DataItem,
            Ctx::DataItem => Ctx::Element(self.slot_of("Data")),
            // An array inside an array element, or anywhere else: keyword text only.
            _ => Ctx::Ignore,
        };
        while seq.next_element_seed(self.child(ctx))?.is_some() {}
        Ok(Found::Nothing)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Found, A::Error> {
        let parent = match self.ctx {
            Ctx::Root(Layout::Evtx) => {
                // evtx_dump's records are `{"Event": {...}}`; flat ones (NXLog, or events
                // already flattened to Sigma field names) are read as flat records; Winlogbeat
                // (`winlog`) goes through a decoded `Value`.
                let Some(first) = map.next_key_seed(Key)? else {
                    return Ok(Found::Nothing);
                };
                if first != "Event" {
                    // An `Event` or `winlog` object would make it another shape (decline);
                    // any other value under those names is a flat field like the rest.
                    let special = |k: &str| k == "Event" || k == "winlog";
                    self.rec.name.clear();
                    self.flat_member(&mut map, &first, special(&first))?;
                    while let Some(key) = map.next_key_seed(Key)? {
                        self.flat_member(&mut map, &key, special(&key))?;
                    }
                    return Ok(Found::Nothing);
                }
                map.next_value_seed(self.child(Ctx::Event))?;
                // Anything after `Event` is not extracted, only searched by keywords.
                while let Some(key) = map.next_key_seed(Key)? {
                    if key == "Event" {
                        return Err(de::Error::custom("two Event members"));
                    }
                    map.next_value_seed(self.child(Ctx::Ignore))?;
                }
                return Ok(Found::Nothing);
            }
            Ctx::Root(Layout::Flat) => {
                self.rec.name.clear();
                Ctx::Flat
            }
            // A `System` member that is an object: `#text` and `#attributes`.
            Ctx::SystemChild => Ctx::SystemChild,
            Ctx::DataList | Ctx::DataItem => return self.data_item(map),
            other => other,
        };
        let mut found = Found::Nothing;
        while let Some(key) = map.next_key_seed(Key)? {
            match parent {
                Ctx::Flat => self.flat_member(&mut map, &key, false)?,
                Ctx::SystemChild => {
                    // Members of `System.<k>`: the owner's name is in `name`.
                    let ctx = match &*key {
                        "#text" => Ctx::Value(self.slot_of(&self.rec.name)),
                        "#attributes" => Ctx::Attributes,
                        _ => Ctx::Ignore,
                    };
                    map.next_value_seed(self.child(ctx))?;
                }
                Ctx::Attributes => {
                    let len = self.rec.name.len();
                    self.rec.name.push('_');
                    self.rec.name.push_str(&key);
                    let slot = self.slot_of(&self.rec.name);
                    self.rec.name.truncate(len);
                    map.next_value_seed(self.child(Ctx::Value(slot)))?;
                }
                Ctx::System => {
                    // The member's name, for its `#text`/`#attributes` if it is an object.
                    self.rec.name.clear();
                    self.rec.name.push_str(&key);
                    let slot = self.slot_of(&key);
                    map.next_value_seed(SystemMember {
                        walk: self.child(Ctx::SystemChild),
                        slot,
                        decline_map: false,
                    })?;
                }
                Ctx::DataAttributes if key == "Name" && matches!(found, Found::Nothing) => {
                    found = map.next_value_seed(NameOf(self.child(Ctx::Ignore)))?;
                }
                _ => {
                    let ctx = self.member_ctx(&key, parent);
                    map.next_value_seed(self.child(ctx))?;
                }
            }
        }
        Ok(found)
    }
}

impl Walk<'_, '_> {
    /// One member of a flat object (its path so far in `rec.name`): an object below goes on
    /// extending the path, anything else is the field's value.
    fn flat_member<'de, A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        key: &str,
        decline_map: bool,
    ) -> Result<(), A::Error> {
        if key == "#text" && !self.rec.name.is_empty() {
            return Err(de::Error::custom("XML-style object in a flat record"));
        }
        let len = self.rec.name.len();
        if len > 0 {
            self.rec.name.push('.');
        }
        self.rec.name.push_str(key);
        let slot = self.slot_of(&self.rec.name);
        map.next_value_seed(FlatMember {
            walk: self.child(Ctx::Flat),
            slot,
            decline_map,
        })?;
        self.rec.name.truncate(len);
        Ok(())
    }

    /// A `Data` item: `{"#attributes": {"Name": N}, "#text": V}` reports `V` to `N` (to
    /// `Data` without a name; a null when there is no `#text`).
    fn data_item<'de, A: MapAccess<'de>>(mut self, mut map: A) -> Result<Found, A::Error> {
        let mut name: Option<u32> = None;
        let mut text_seen = false;
        let mut pending_from: Option<usize> = None;
        while let Some(key) = map.next_key_seed(Key)? {
            match &*key {
                "#attributes" if name.is_none() => {
                    if let Found::Name(s) = map.next_value_seed(self.child(Ctx::DataAttributes))? {
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
                    map.next_value_seed(self.child(Ctx::Value(slot)))?;
                }
                _ => {
                    map.next_value_seed(self.child(Ctx::Ignore))?;
                }
            }
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
                    low: (0, 0),
                },
            ));
        }
        Ok(Found::Nothing)
    }
}

/// The value of a `Data` item's `Name` attribute: its slot when it is a string.
struct NameOf<'r, 's>(Walk<'r, 's>);

impl<'de> DeserializeSeed<'de> for NameOf<'_, '_> {
    type Value = Found;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NameOf<'_, '_> {
    type Value = Found;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Found, E> {
        let slot = self.0.slot_of(v);
        self.0.text_scalar::<E>(v)?;
        Ok(Found::Name(slot))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Found, E> {
        self.0.visit_bool(v).map(|_| Found::Nothing)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Found, E> {
        self.0.visit_u64(v).map(|_| Found::Nothing)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Found, E> {
        self.0.visit_i64(v).map(|_| Found::Nothing)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Found, E> {
        self.0.visit_f64(v).map(|_| Found::Nothing)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        self.0.visit_unit().map(|_| Found::Nothing)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Found, A::Error> {
        self.0.visit_seq(seq).map(|_| Found::Nothing)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Found, A::Error> {
        self.0.visit_map(map).map(|_| Found::Nothing)
    }
}

/// A `System` member: an object is walked for `#text`/`#attributes`, anything else is the
/// field's value.
struct SystemMember<'r, 's> {
    walk: Walk<'r, 's>,
    slot: u32,
    decline_map: bool,
}

/// A member of a flat object: an object extends the path, anything else is the value.
struct FlatMember<'r, 's> {
    walk: Walk<'r, 's>,
    slot: u32,
    /// An `Event` or `winlog` object at the top of an evtx-layout record makes it another
    /// shape: decline.
    decline_map: bool,
}

macro_rules! value_or_map {
    ($t:ident) => {
        impl<'de> DeserializeSeed<'de> for $t<'_, '_> {
            type Value = Found;
            fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
                d.deserialize_any(self)
            }
        }

        impl<'de> Visitor<'de> for $t<'_, '_> {
            type Value = Found;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Found, A::Error> {
                if self.decline_map {
                    return Err(de::Error::custom(
                        "an Event or winlog object after other members",
                    ));
                }
                self.walk.visit_map(map)
            }
            fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<Found, E> {
                self.walk.ctx = Ctx::Value(self.slot);
                self.walk.visit_bool(v)
            }
            fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<Found, E> {
                self.walk.ctx = Ctx::Value(self.slot);
                self.walk.visit_u64(v)
            }
            fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<Found, E> {
                self.walk.ctx = Ctx::Value(self.slot);
                self.walk.visit_i64(v)
            }
            fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<Found, E> {
                self.walk.ctx = Ctx::Value(self.slot);
                self.walk.visit_f64(v)
            }
            fn visit_str<E: de::Error>(mut self, v: &str) -> Result<Found, E> {
                self.walk.ctx = Ctx::Value(self.slot);
                self.walk.visit_str(v)
            }
            fn visit_unit<E: de::Error>(mut self) -> Result<Found, E> {
                self.walk.ctx = Ctx::Value(self.slot);
                self.walk.visit_unit()
            }
            fn visit_seq<A: SeqAccess<'de>>(mut self, seq: A) -> Result<Found, A::Error> {
                self.walk.ctx = Ctx::Value(self.slot);
                self.walk.visit_seq(seq)
            }
        }
    };
}

value_or_map!(SystemMember);
value_or_map!(FlatMember);

#[cfg(test)]
mod tests;
