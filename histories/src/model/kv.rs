//! A key-value store: reads (`read`/`get`), writes (`write`/`put`) and
//! string appends (`append`). Values are integers or strings. As in
//! porcupine's kv model, where every key starts as the empty string, a read
//! of `""` matches an absent key.
//!
//! [`KvKey`] is one key's value, checked per key; [`KvMap`] is the whole
//! map, checked as one object (slower, and needed only to cross-check).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::Value as Json;
use stateright::semantics::SequentialSpec;

use super::{ending, unknown_f, Ending, Model};
use crate::check::zones::RwView;
use crate::ops::Operation;

/// A stored value. Strings are shared, so that copying a state (which the
/// search does at every step) copies no text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Datum {
    Int(i64),
    Str(Arc<str>),
}

impl Datum {
    fn from_json(v: &Json, what: &str) -> Result<Datum, String> {
        match v {
            Json::String(s) => Ok(Datum::Str(s.as_str().into())),
            Json::Number(_) => v
                .as_i64()
                .map(Datum::Int)
                .ok_or_else(|| format!("{what} should be an integer or a string, got {v}")),
            _ => Err(format!("{what} should be an integer or a string, got {v}")),
        }
    }

    fn describe(&self) -> String {
        match self {
            Datum::Int(i) => i.to_string(),
            Datum::Str(s) => format!("{s:?}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    Read(String),
    Write(String, Datum),
    /// Concatenate a string onto the key's value.
    Append(String, Arc<str>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvRet {
    Value(Option<Datum>),
    Done,
    Unknown,
}

impl KvOp {
    fn key(&self) -> &str {
        match self {
            KvOp::Read(k) | KvOp::Write(k, _) | KvOp::Append(k, _) => k,
        }
    }
}

/// Applies `op` to one key's value.
fn step(value: &mut Option<Datum>, op: &KvOp) -> KvRet {
    match op {
        KvOp::Read(_) => KvRet::Value(value.clone()),
        KvOp::Write(_, d) => {
            *value = Some(d.clone());
            KvRet::Done
        }
        KvOp::Append(_, s) => {
            *value = Some(match value.take() {
                None => Datum::Str(s.clone()),
                Some(Datum::Str(cur)) => Datum::Str(format!("{cur}{s}").into()),
                Some(Datum::Int(i)) => Datum::Str(format!("{i}{s}").into()),
            });
            KvRet::Done
        }
    }
}

fn matches(value: &Option<Datum>, op: &KvOp, ret: &KvRet) -> bool {
    match (op, ret) {
        (_, KvRet::Unknown) => true,
        (KvOp::Read(_), KvRet::Value(r)) => {
            r == value || (value.is_none() && matches!(r, Some(Datum::Str(s)) if s.is_empty()))
        }
        (KvOp::Read(_), _) => false,
        (_, r) => *r == KvRet::Done,
    }
}

fn decode(model: &str, op: &Operation) -> Result<Option<(KvOp, KvRet)>, String> {
    let end = ending(op);
    if matches!(end, Ending::Dropped) {
        return Ok(None);
    }
    let key = op
        .key
        .clone()
        .ok_or_else(|| format!("a {} operation on a kv store needs a key", op.f))?;
    let ret = |end: &Ending| match end {
        Ending::Ok(_) => KvRet::Done,
        _ => KvRet::Unknown,
    };
    Ok(Some(match op.f.as_str() {
        "read" | "get" => match end {
            Ending::Ok(v) if v.is_null() => (KvOp::Read(key), KvRet::Value(None)),
            Ending::Ok(v) => (
                KvOp::Read(key),
                KvRet::Value(Some(Datum::from_json(v, "a read value")?)),
            ),
            _ => return Ok(None),
        },
        "write" | "put" => (
            KvOp::Write(key, Datum::from_json(&op.value, "a written value")?),
            ret(&end),
        ),
        "append" => {
            let s = op.value.as_str().ok_or_else(|| {
                format!(
                    "a kv append takes a string, got {} (for lists of integers use the list-append model)",
                    op.value
                )
            })?;
            (KvOp::Append(key, s.into()), ret(&end))
        }
        f => return Err(unknown_f(model, f, "read/get, write/put, append")),
    }))
}

fn describe_op(op: &KvOp) -> String {
    match op {
        KvOp::Read(k) => format!("read {k}"),
        KvOp::Write(k, d) => format!("write {k}={}", d.describe()),
        KvOp::Append(k, s) => format!("append {s:?} to {k}"),
    }
}

fn describe_ret(ret: &KvRet) -> String {
    match ret {
        KvRet::Value(Some(d)) => d.describe(),
        KvRet::Value(None) => "absent".to_string(),
        KvRet::Done => "ok".to_string(),
        KvRet::Unknown => "unknown".to_string(),
    }
}

/// One key's value, for per-key checking.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvKey {
    pub value: Option<Datum>,
}

impl SequentialSpec for KvKey {
    type Op = KvOp;
    type Ret = KvRet;

    fn invoke(&mut self, op: &KvOp) -> KvRet {
        step(&mut self.value, op)
    }

    fn is_valid_step(&mut self, op: &KvOp, ret: &KvRet) -> bool {
        let ok = matches(&self.value, op, ret);
        if ok {
            step(&mut self.value, op);
        }
        ok
    }
}

/// A value's canonical text for the zone check; the empty string reads
/// as absent, so it has none.
fn view(d: &Datum) -> Option<String> {
    match d {
        Datum::Int(i) => Some(format!("i{i}")),
        Datum::Str(s) if s.is_empty() => None,
        Datum::Str(s) => Some(format!("s{s}")),
    }
}

impl Model for KvKey {
    fn name(&self) -> &'static str {
        "kv"
    }
    fn rw_initial(&self) -> Option<Option<String>> {
        match &self.value {
            None => Some(None),
            Some(d) => view(d).map(Some),
        }
    }
    fn rw_view(op: &KvOp, ret: &KvRet) -> Option<RwView> {
        match (op, ret) {
            (KvOp::Read(_), KvRet::Value(None)) => Some(RwView::Read(None)),
            (KvOp::Read(_), KvRet::Value(Some(d))) => match d {
                Datum::Str(s) if s.is_empty() => Some(RwView::Read(None)),
                d => view(d).map(|v| RwView::Read(Some(v))),
            },
            (KvOp::Write(_, d), _) => view(d).map(RwView::Write),
            _ => None,
        }
    }
    fn per_key(&self) -> bool {
        true
    }
    fn decode(&self, op: &Operation) -> Result<Option<(KvOp, KvRet)>, String> {
        decode("kv", op)
    }
    fn describe_state(&self) -> String {
        self.value
            .as_ref()
            .map_or("absent".to_string(), Datum::describe)
    }
    fn observes_only(op: &KvOp, _ret: &KvRet) -> bool {
        matches!(op, KvOp::Read(_))
    }
    fn describe_op(op: &KvOp) -> String {
        describe_op(op)
    }
    fn describe_ret(ret: &KvRet) -> String {
        describe_ret(ret)
    }
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.value {
                Some(Datum::Str(s)) => s.len(),
                _ => 0,
            }
    }
}

/// The whole map as one object (no partitioning): entries sorted by key,
/// with their combined hash kept up to date so that hashing and comparing
/// states (done at every search step) seldom looks at the entries.
#[derive(Clone, Debug, Default)]
pub struct KvMap {
    entries: Vec<(Arc<str>, Datum)>,
    /// XOR of the entries' hashes.
    hash: u64,
}

fn entry_hash(k: &str, v: &Datum) -> u64 {
    crate::hash::hash_of(&(k, v))
}

impl KvMap {
    /// The value stored at `key`.
    pub fn get(&self, key: &str) -> Option<&Datum> {
        self.entries
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    fn apply(&mut self, op: &KvOp) -> KvRet {
        let key = op.key();
        match self.entries.binary_search_by(|(k, _)| (**k).cmp(key)) {
            Ok(i) => {
                let (k, v) = &mut self.entries[i];
                self.hash ^= entry_hash(k, v);
                let mut cur = Some(v.clone());
                let r = step(&mut cur, op);
                *v = cur.expect("a present key stays present");
                self.hash ^= entry_hash(k, v);
                r
            }
            Err(i) => {
                let mut cur = None;
                let r = step(&mut cur, op);
                if let Some(v) = cur {
                    self.hash ^= entry_hash(key, &v);
                    self.entries.insert(i, (key.into(), v));
                }
                r
            }
        }
    }
}

impl PartialEq for KvMap {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.entries == other.entries
    }
}

impl Eq for KvMap {}

impl Hash for KvMap {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl SequentialSpec for KvMap {
    type Op = KvOp;
    type Ret = KvRet;

    fn invoke(&mut self, op: &KvOp) -> KvRet {
        self.apply(op)
    }

    fn is_valid_step(&mut self, op: &KvOp, ret: &KvRet) -> bool {
        let cur = self.get(op.key()).cloned();
        if !matches(&cur, op, ret) {
            return false;
        }
        if !matches!(op, KvOp::Read(_)) {
            self.apply(op);
        }
        true
    }
}

impl Model for KvMap {
    fn name(&self) -> &'static str {
        "kv-map"
    }
    fn per_key(&self) -> bool {
        false
    }
    fn decode(&self, op: &Operation) -> Result<Option<(KvOp, KvRet)>, String> {
        decode("kv-map", op)
    }
    fn describe_state(&self) -> String {
        let items: Vec<String> = self
            .entries
            .iter()
            .map(|(k, v)| format!("{k}={}", v.describe()))
            .collect();
        format!("{{{}}}", items.join(", "))
    }
    fn observes_only(op: &KvOp, _ret: &KvRet) -> bool {
        matches!(op, KvOp::Read(_))
    }
    fn describe_op(op: &KvOp) -> String {
        describe_op(op)
    }
    fn describe_ret(ret: &KvRet) -> String {
        describe_ret(ret)
    }
    fn footprint(&self) -> usize {
        // Values are shared between states; count the entry table.
        std::mem::size_of::<Self>() + self.entries.len() * 40
    }
}
