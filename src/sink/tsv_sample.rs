//! Deterministic, stratified sampling of the TSV items (README, "Output formats", `[output.tsv] max_items`): a
//! benchmark TSV is a sample, while Parquet and JSONL stay complete.
//!
//! Per (split, language) at most `max_items` items are kept. Items fall into strata (task, label or landmark
//! measurement, plane and question kind); the quota is water-filled over the strata: the level `q` is the largest integer with
//! `Σ min(n_s, q) ≤ max_items` (`n_s` items in stratum `s`), and the `max_items − Σ min(n_s, q)` slots left
//! go one each to the strata with more than `q` items, in the order of `xxh3(seed, stratum)`. Within a stratum
//! the items with the smallest `(xxh3(seed, fact), fact)` are kept, where the fact is the row id without its
//! trailing `/<lang>` plus the question kind, so every language of a split keeps the same facts. The result
//! depends only on the multiset of items, so it is the same for any thread count, chunking or replay of the
//! stream; the items are written in stream order.
//!
//! Streaming: as items arrive the level can only fall (counts only grow), so a stratum never needs more than
//! `q + 1` candidates; the others are dropped at once. [`TsvGate`] shares that state with the case workers,
//! which ask it before making an item's RGB PNG; an item the gate refuses can provably not be selected, and
//! [`GroupSampler::selected`] asserts it. A case first registers all the items it will offer
//! ([`TsvGate::limits`]): a set of items that is part of the stream proves on its own which of them cannot be
//! selected, so a case's early items need not wait for the stream to show enough of their strata.
//! The build's final case also hands its keys to the sink ([`TsvGate::register_final`]): once that case's
//! rows begin, the items offered so far and its keys are the whole stream, and [`TsvGate::decide`] gives the
//! final selection then, on a copy of the samplers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::record::{Choice, Row};

/// Which of a row's multiple-choice items: its own question or the "which structure" identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    /// The row's own question (`Row::choice`).
    Own,
    /// The identification question (`Row::identify`).
    Identify,
}

impl ItemKind {
    fn as_str(self) -> &'static str {
        match self {
            ItemKind::Own => "own",
            ItemKind::Identify => "identify",
        }
    }
}

/// A row's items with their kinds, in the order the TSV writes them.
pub fn row_items(row: &Row) -> impl Iterator<Item = (ItemKind, &Choice)> {
    row.choice
        .iter()
        .map(|c| (ItemKind::Own, c))
        .chain(row.identify.iter().map(|c| (ItemKind::Identify, c)))
}

/// The row id without its trailing `/<lang>`: the fact, the same in every language.
fn fact_base(row: &Row) -> &str {
    let base = row.id.strip_suffix(row.lang.as_str()).unwrap_or(&row.id);
    base.strip_suffix('/').unwrap_or(&row.id)
}

/// The fact an item asks about, the same in every language: the row id without its trailing `/<lang>`, and
/// the question kind.
pub fn fact_id(row: &Row, kind: ItemKind) -> String {
    format!("{}#{}", fact_base(row), kind.as_str())
}

/// The stratum of an item: task (kind and id), the fact's subject (label id or landmark measurement: the last
/// segment of the fact id, language-independent unlike the label's name — or the one before a label's
/// `/piece<k>`, so every piece of a label counts for that label), plane and question kind.
pub fn stratum(row: &Row, kind: ItemKind) -> String {
    let mut segments = fact_base(row).rsplit('/');
    // A row about piece k > 0 of a label with several pieces ends its id in `/piece<k>` (`case/rows.rs`).
    if row.piece_index.is_some() && row.piece_count.is_some_and(|n| n > 1) {
        segments.next();
    }
    let subject = segments.next().unwrap_or("-");
    format!(
        "{} {}|{subject}|{}|{}",
        row.task_type,
        row.task_id,
        row.plane.as_deref().unwrap_or("-"),
        kind.as_str()
    )
}

/// `(split, language)`: one sampled TSV file set.
pub type GroupKey = (String, String);

/// The sort key of a fact within its stratum: smaller is kept first.
pub type FactKey = (u64, String);

/// An item's sampling key: its (split, language), stratum and fact key.
pub type ItemKey = (GroupKey, String, FactKey);

/// Per (split, language) and stratum, the largest key a selected item can have ([`TsvGate::limits`]).
#[derive(Debug, Clone, Default)]
pub struct Limits(HashMap<(GroupKey, String), FactKey>);

fn fact_key(seed: u64, fact: String) -> FactKey {
    (
        xxhash_rust::xxh3::xxh3_64_with_seed(fact.as_bytes(), seed),
        fact,
    )
}

/// The water-filling level: the largest `q` with `Σ min(n, q) ≤ max`, or `None` when every item fits.
pub fn level(counts: impl Iterator<Item = u64> + Clone, max: u64) -> Option<u64> {
    if counts.clone().sum::<u64>() <= max {
        return None;
    }
    let filled = |q: u64| counts.clone().map(|n| n.min(q)).sum::<u64>();
    let (mut lo, mut hi) = (0u64, counts.clone().max().unwrap_or(0));
    // filled(lo) ≤ max < filled(hi).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if filled(mid) <= max {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

/// One stratum's state: how many items it has seen and its candidates (the smallest keys, at most `q + 1`).
#[derive(Debug)]
struct Stratum<T> {
    seen: u64,
    kept: BTreeMap<FactKey, Candidate<T>>,
}

/// A kept item: its place in the stream and the sink's payload (`None` when the item has no image).
#[derive(Debug)]
struct Candidate<T> {
    seq: u64,
    payload: Option<T>,
}

/// The sampler of one (split, language): pure state, fed in stream order.
#[derive(Debug)]
pub struct GroupSampler<T> {
    max_items: u64,
    /// Current level (`None`: everything fits so far) and `Σ min(seen, level)`.
    level: Option<u64>,
    filled: u64,
    offered: u64,
    strata: HashMap<String, Stratum<T>>,
}

/// What happened to an offered item.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// The item is a candidate now.
    Kept,
    /// The item can no longer be selected.
    Dropped,
}

impl<T> GroupSampler<T> {
    /// A sampler keeping at most `max_items` (> 0).
    pub fn new(max_items: u64) -> Self {
        GroupSampler {
            max_items,
            level: None,
            filled: 0,
            offered: 0,
            strata: HashMap::new(),
        }
    }

    /// The same state with every candidate's payload mapped by `f`.
    fn map_payloads<U>(&self, f: impl Fn(Option<T>) -> Option<U>) -> GroupSampler<U>
    where
        T: Clone,
    {
        GroupSampler {
            max_items: self.max_items,
            level: self.level,
            filled: self.filled,
            offered: self.offered,
            strata: (self.strata.iter())
                .map(|(name, s)| {
                    let kept = (s.kept.iter())
                        .map(|(key, c)| {
                            let payload = f(c.payload.clone());
                            (
                                key.clone(),
                                Candidate {
                                    seq: c.seq,
                                    payload,
                                },
                            )
                        })
                        .collect();
                    (name.clone(), Stratum { seen: s.seen, kept })
                })
                .collect(),
        }
    }

    /// Items offered so far.
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// Feeds the next item of the stream; `payload` is called only when the item becomes a candidate and
    /// gives `None` for an item without image.
    fn offer<E>(
        &mut self,
        stratum: &str,
        key: FactKey,
        payload: impl FnOnce() -> Result<Option<T>, E>,
    ) -> Result<Offer, E> {
        let seq = self.offered;
        self.offered += 1;
        let entry = self
            .strata
            .entry(stratum.to_string())
            .or_insert_with(|| Stratum {
                seen: 0,
                kept: BTreeMap::new(),
            });
        entry.seen += 1;
        match self.level {
            Some(q) if entry.seen <= q => self.filled += 1,
            Some(_) => {}
            None if self.offered > self.max_items => {
                let q = self.strata.values().map(|s| s.seen).max().unwrap_or(0);
                self.level = Some(q);
                self.filled = self.offered;
            }
            None => {}
        }
        self.lower_level();
        let cap = self.cap();
        let Some(entry) = self.strata.get_mut(stratum) else {
            return Ok(Offer::Dropped);
        };
        if entry.kept.len() as u64 >= cap {
            match entry.kept.last_key_value() {
                Some((largest, _)) if key < *largest => {
                    entry.kept.pop_last();
                }
                _ => return Ok(Offer::Dropped),
            }
        }
        let payload = payload()?;
        entry.kept.insert(key, Candidate { seq, payload });
        Ok(Offer::Kept)
    }

    /// Lowers the level while `Σ min(seen, level) > max_items`, dropping the candidates beyond `level + 1`.
    fn lower_level(&mut self) {
        let Some(mut q) = self.level else {
            return;
        };
        let before = q;
        while self.filled > self.max_items && q > 0 {
            q -= 1;
            self.filled = self.strata.values().map(|s| s.seen.min(q)).sum();
        }
        self.level = Some(q);
        if q < before {
            for s in self.strata.values_mut() {
                while s.kept.len() as u64 > q + 1 {
                    s.kept.pop_last();
                }
            }
        }
    }

    /// Most candidates a stratum may hold now.
    fn cap(&self) -> u64 {
        self.level.map_or(u64::MAX, |q| q + 1)
    }

    /// The largest key an item of `stratum` may have and still be selected, when the stratum is full.
    fn threshold(&self, stratum: &str) -> Option<&FactKey> {
        let s = self.strata.get(stratum)?;
        (s.kept.len() as u64 >= self.cap())
            .then(|| s.kept.last_key_value().map(|(k, _)| k))
            .flatten()
    }

    /// The final selection, in stream order: per stratum its quota of smallest keys. Fails with the fact id
    /// of a selected item that has no payload (an item the gate refused; a bug if it ever happens).
    pub fn selected(self, seed: u64) -> Result<Vec<T>, String> {
        (self.selected_keyed(seed).into_iter())
            .map(|(key, payload)| payload.ok_or(key.1))
            .collect()
    }

    /// The final selection, in stream order, each item with its fact key and payload.
    pub fn selected_keyed(self, seed: u64) -> Vec<(FactKey, Option<T>)> {
        let quota = self.quotas(seed);
        let mut chosen: Vec<(u64, FactKey, Option<T>)> = Vec::new();
        for (name, s) in self.strata {
            let take = quota.get(&name).copied().unwrap_or(u64::MAX);
            for (key, c) in s
                .kept
                .into_iter()
                .take(usize::try_from(take).unwrap_or(usize::MAX))
            {
                chosen.push((c.seq, key, c.payload));
            }
        }
        chosen.sort_unstable_by_key(|c| c.0);
        chosen.into_iter().map(|(_, key, p)| (key, p)).collect()
    }

    /// The fact keys of the final selection, in stream order.
    pub fn selected_keys(self, seed: u64) -> Vec<FactKey> {
        (self.selected_keyed(seed).into_iter())
            .map(|(key, _)| key)
            .collect()
    }

    /// The final quota of each stratum with more than `level` items (the others keep all of theirs).
    fn quotas(&self, seed: u64) -> HashMap<String, u64> {
        let Some(q) = self.level else {
            return HashMap::new();
        };
        let mut over: Vec<(u64, &String)> = self
            .strata
            .iter()
            .filter(|(_, s)| s.seen > q)
            .map(|(name, _)| {
                (
                    xxhash_rust::xxh3::xxh3_64_with_seed(name.as_bytes(), seed),
                    name,
                )
            })
            .collect();
        over.sort_unstable();
        let left = self.max_items - self.filled;
        over.iter()
            .enumerate()
            .map(|(i, (_, name))| ((*name).clone(), q + u64::from((i as u64) < left)))
            .collect()
    }
}

/// Per (split, language) samplers with the seed; shared between the TSV sink and the case workers.
struct SampleState<T> {
    groups: BTreeMap<GroupKey, GroupSampler<T>>,
    /// The items the stream's final case registered ([`TsvGate::register_final`]), until the sink takes them.
    final_case: Option<FinalCase>,
}

/// The stream's final case and every item it will offer, in stream order.
struct FinalCase {
    collection: String,
    case_id: String,
    items: Vec<ItemKey>,
}

/// An item of the sample decided before the final case's items arrived ([`TsvGate::decide`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Decided<T> {
    /// An earlier item, with the sink's payload (`None`: no image, an error at write time).
    Stored(Option<T>),
    /// An item of the final case, still to arrive.
    Pending,
}

/// The TSV sampler shared by the sink (which feeds it) and the case workers (which ask it before making an
/// item's RGB PNG). Cloning shares the state.
pub struct TsvGate<T> {
    seed: u64,
    max_items: u64,
    state: Arc<Mutex<SampleState<T>>>,
}

impl<T> Clone for TsvGate<T> {
    fn clone(&self) -> Self {
        TsvGate {
            seed: self.seed,
            max_items: self.max_items,
            state: Arc::clone(&self.state),
        }
    }
}

impl<T> TsvGate<T> {
    /// A sampler keeping at most `max_items` (> 0) per (split, language), seeded by `seed`.
    pub fn new(max_items: u64, seed: u64) -> Self {
        TsvGate {
            seed,
            max_items,
            state: Arc::new(Mutex::new(SampleState {
                groups: BTreeMap::new(),
                final_case: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SampleState<T>> {
        // The state stays consistent between calls; a panic elsewhere does not make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Feeds the next item of the stream (the sink calls this in stream order). `payload` makes the sink's
    /// record of the item, only when it becomes a candidate; `None` when it has no image.
    pub fn offer<E>(
        &self,
        row: &Row,
        kind: ItemKind,
        payload: impl FnOnce() -> Result<Option<T>, E>,
    ) -> Result<Offer, E> {
        let key = fact_key(self.seed, fact_id(row, kind));
        let mut state = self.lock();
        state
            .groups
            .entry((row.split.clone(), row.lang.clone()))
            .or_insert_with(|| GroupSampler::new(self.max_items))
            .offer(&stratum(row, kind), key, payload)
    }

    /// The sampling key of each item: its (split, language), stratum and fact key.
    pub fn keys(&self, items: &[(&Row, ItemKind)]) -> Vec<ItemKey> {
        (items.iter())
            .map(|(row, kind)| {
                (
                    (row.split.clone(), row.lang.clone()),
                    stratum(row, *kind),
                    fact_key(self.seed, fact_id(row, *kind)),
                )
            })
            .collect()
    }

    /// What a set of items that is part of the stream proves on its own: per (split, language) and stratum,
    /// the largest key a selected item can have — `q' + 1` of the set's items have smaller or equal keys,
    /// `q'` being the level of the set's own counts (a subset of the final stream, so `q' ≥` the final
    /// level). A case registers the items it will offer before it renders its slices; the set must never
    /// hold an item that is not offered later.
    pub fn limits(&self, items: &[ItemKey]) -> Limits {
        let mut groups: BTreeMap<&GroupKey, HashMap<&str, Vec<&FactKey>>> = BTreeMap::new();
        for (group, s, key) in items {
            (groups.entry(group).or_default())
                .entry(s.as_str())
                .or_default()
                .push(key);
        }
        let mut limits = HashMap::new();
        for (group, mut strata) in groups {
            let Some(q) = level(strata.values().map(|k| k.len() as u64), self.max_items) else {
                continue;
            };
            for (s, keys) in &mut strata {
                keys.sort_unstable();
                if let Some(k) = keys.get(q as usize) {
                    limits.insert((group.clone(), s.to_string()), (*k).clone());
                }
            }
        }
        Limits(limits)
    }

    /// Whether each item of `items` (a batch of one case's items, in stream order) could still be selected.
    /// `false` is a proof that it cannot: either the sink's candidates of its stratum already hold `q + 1`
    /// smaller keys, or `q' + 1` items of this batch in its stratum have smaller keys, `q'` being the level of
    /// the sink's counts plus this batch's (a subset of the final stream, so `q' ≥` the final level), or
    /// `case` (the case's registered items, [`TsvGate::limits`]) proves it. A worker that sees an older state
    /// just makes an image that will not be used.
    pub fn may_select(&self, items: &[(&Row, ItemKind)], case: Option<&Limits>) -> Vec<bool> {
        let keyed = self.keys(items);
        let mut case_counts: BTreeMap<&GroupKey, HashMap<&str, Vec<&FactKey>>> = BTreeMap::new();
        for (group, s, key) in &keyed {
            case_counts
                .entry(group)
                .or_default()
                .entry(s.as_str())
                .or_default()
                .push(key);
        }
        // Per group and stratum: the largest key a selected item of this batch can have.
        let mut limits: HashMap<(&GroupKey, &str), FactKey> = HashMap::new();
        let state = self.lock();
        for (group, strata) in &mut case_counts {
            let sink = state.groups.get(*group);
            let count = |s: &str| sink.and_then(|g| g.strata.get(s)).map_or(0, |s| s.seen);
            let mut counts: HashMap<&str, u64> = sink
                .map(|g| g.strata.iter().map(|(k, s)| (k.as_str(), s.seen)).collect())
                .unwrap_or_default();
            for (s, keys) in strata.iter() {
                *counts.entry(s).or_insert(0) = count(s) + keys.len() as u64;
            }
            let q = level(counts.values().copied(), self.max_items);
            for (s, keys) in strata.iter_mut() {
                let mut limit = sink.and_then(|g| g.threshold(s)).cloned();
                if let Some(q) = q {
                    keys.sort_unstable();
                    if let Some(k) = keys.get(q as usize) {
                        if limit.as_ref().is_none_or(|l| *k < l) {
                            limit = Some((*k).clone());
                        }
                    }
                }
                let registered = case.and_then(|c| c.0.get(&((*group).clone(), s.to_string())));
                if let Some(k) = registered {
                    if limit.as_ref().is_none_or(|l| k < l) {
                        limit = Some(k.clone());
                    }
                }
                if let Some(limit) = limit {
                    limits.insert((*group, *s), limit);
                }
            }
        }
        drop(state);
        keyed
            .iter()
            .map(|(group, s, key)| limits.get(&(group, s.as_str())).is_none_or(|l| key <= l))
            .collect()
    }

    /// Removes the sampler of every group, with how many items each was offered.
    pub fn take_groups(&self) -> BTreeMap<GroupKey, GroupSampler<T>> {
        std::mem::take(&mut self.lock().groups)
    }

    /// The seed of fact and stratum hashes.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The stream's final case (`collection`, `case_id`) will offer exactly `items`, in this order: once the
    /// sink reaches that case's rows, every item of the stream is known and the sink can decide the sample
    /// then ([`TsvGate::decide`]) instead of at finish.
    pub fn register_final(&self, collection: &str, case_id: &str, items: Vec<ItemKey>) {
        self.lock().final_case = Some(FinalCase {
            collection: collection.to_string(),
            case_id: case_id.to_string(),
            items,
        });
    }

    /// The final case's registered items when `row` is one of that case's (taken: asked once).
    pub fn take_final(&self, row: &Row) -> Option<Vec<ItemKey>> {
        let mut state = self.lock();
        let is_final = (state.final_case.as_ref())
            .is_some_and(|f| f.collection == row.collection && f.case_id == row.case_id);
        is_final
            .then(|| state.final_case.take().map(|f| f.items))
            .flatten()
    }
}

impl<T: Clone> TsvGate<T> {
    /// The sample of the whole stream, per (split, language), decided when the items offered so far and the
    /// final case's registered `items` (all of them still to be offered, in stream order) are the whole
    /// stream: what [`GroupSampler::selected`] will select at finish, computed on a copy of the samplers.
    pub fn decide(&self, items: &[ItemKey]) -> BTreeMap<GroupKey, Vec<(FactKey, Decided<T>)>> {
        let state = self.lock();
        let mut samplers: BTreeMap<GroupKey, GroupSampler<Decided<T>>> = BTreeMap::new();
        for (group, sampler) in &state.groups {
            samplers.insert(
                group.clone(),
                sampler.map_payloads(|p| Some(Decided::Stored(p))),
            );
        }
        drop(state);
        for (group, stratum, key) in items {
            let sampler = (samplers.entry(group.clone()))
                .or_insert_with(|| GroupSampler::new(self.max_items));
            let pending = || Ok::<_, std::convert::Infallible>(Some(Decided::Pending));
            let Ok(_) = sampler.offer(stratum, key.clone(), pending);
        }
        (samplers.into_iter())
            .map(|(group, sampler)| {
                let chosen = sampler.selected_keyed(self.seed).into_iter();
                // Every candidate of the copy has a payload: `Stored` (itself optional) or `Pending`.
                let decided =
                    chosen.map(|(key, payload)| (key, payload.unwrap_or(Decided::Pending)));
                (group, decided.collect())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Item `i` of a stream over `strata` strata: stratum `i % strata` (a label id), both languages.
    fn row(i: usize, strata: usize, lang: &str) -> Row {
        Row {
            id: format!(
                "ds/c/case_{}/bbox/T01/axial/{i}/{}/{lang}",
                i / 50,
                i % strata
            ),
            task_type: "bbox".into(),
            task_id: "T01".into(),
            plane: Some("axial".into()),
            split: "test".into(),
            lang: lang.into(),
            label_name: Some(format!("name of {} in {lang}", i % strata)),
            ..Row::default()
        }
    }

    /// Offers `n` items (payload: the item number) and returns the selection.
    fn select(gate: &TsvGate<usize>, rows: &[Row]) -> Vec<usize> {
        for (i, r) in rows.iter().enumerate() {
            gate.offer(r, ItemKind::Own, || Ok::<_, ()>(Some(i)))
                .expect("offer");
        }
        let mut groups = gate.take_groups();
        assert_eq!(groups.len(), 1);
        let (_, sampler) = groups.pop_first().expect("group");
        sampler
            .selected(gate.seed())
            .expect("every item has a payload")
    }

    #[test]
    fn level_is_the_water_filling_level() {
        // Counts 1, 5, 10, 20 with max 20: q = 7 fills 1 + 5 + 7 + 7 = 20.
        let counts = [1u64, 5, 10, 20];
        assert_eq!(level(counts.iter().copied(), 20), Some(7));
        // max 21: q = 7 (20) and one slot left for a stratum with more than 7.
        assert_eq!(level(counts.iter().copied(), 21), Some(7));
        assert_eq!(level(counts.iter().copied(), 36), None);
        assert_eq!(level(counts.iter().copied(), 3), Some(0));
    }

    #[test]
    fn quota_per_stratum_is_exact() {
        // 1000 items over 7 strata (143 or 142 each), max 100: 100 = 7 × 14 + 2, so two strata keep 15
        // and five keep 14.
        let rows: Vec<Row> = (0..1000).map(|i| row(i, 7, "en")).collect();
        let chosen = select(&TsvGate::new(100, 9), &rows);
        assert_eq!(chosen.len(), 100);
        let mut per: BTreeMap<usize, usize> = BTreeMap::new();
        for &i in &chosen {
            *per.entry(i % 7).or_default() += 1;
        }
        let mut sizes: Vec<usize> = per.values().copied().collect();
        sizes.sort_unstable();
        assert_eq!(sizes, vec![14, 14, 14, 14, 14, 15, 15]);
        assert!(chosen.windows(2).all(|w| w[0] < w[1]), "stream order");
        // Within a stratum the smallest hashes are kept: recompute independently.
        for s in 0..7 {
            let mut keys: Vec<(u64, String, usize)> = (0..1000)
                .filter(|i| i % 7 == s)
                .map(|i| {
                    let fact = fact_id(&rows[i], ItemKind::Own);
                    (
                        xxhash_rust::xxh3::xxh3_64_with_seed(fact.as_bytes(), 9),
                        fact,
                        i,
                    )
                })
                .collect();
            keys.sort();
            let want: BTreeSet<usize> = keys.iter().take(per[&s]).map(|k| k.2).collect();
            let got: BTreeSet<usize> = chosen.iter().copied().filter(|i| i % 7 == s).collect();
            assert_eq!(got, want, "stratum {s}");
        }
        // A small stratum keeps all of its items: 10 items of stratum "rare" among 500 of another.
        let mut rows: Vec<Row> = (0..500).map(|i| row(i, 1, "en")).collect();
        for r in rows.iter_mut().step_by(50) {
            r.id = r.id.replace("/0/en", "/rare/en");
        }
        let chosen = select(&TsvGate::new(40, 0), &rows);
        assert_eq!(chosen.len(), 40);
        assert_eq!(chosen.iter().filter(|&&i| i % 50 == 0).count(), 10);
    }

    #[test]
    fn a_case_that_registers_its_items_gates_more_and_stays_sound() {
        // Three cases of 200 items, each asking the gate batch by batch (7 items), as case workers do; with
        // registration each case first hands the gate all its items.
        let en: Vec<Row> = (0..600).map(|i| row(i, 5, "en")).collect();
        let want = select(&TsvGate::new(60, 3), &en);
        let gated = |register: bool| {
            let gate: TsvGate<usize> = TsvGate::new(60, 3);
            let mut gated = 0;
            for (c, case) in en.chunks(200).enumerate() {
                let all: Vec<(&Row, ItemKind)> = case.iter().map(|r| (r, ItemKind::Own)).collect();
                let limits = register.then(|| gate.limits(&gate.keys(&all)));
                for (b, batch) in case.chunks(7).enumerate() {
                    let asked: Vec<(&Row, ItemKind)> =
                        batch.iter().map(|r| (r, ItemKind::Own)).collect();
                    let allowed = gate.may_select(&asked, limits.as_ref());
                    for (k, (r, ok)) in batch.iter().zip(allowed).enumerate() {
                        gated += usize::from(!ok);
                        let i = c * 200 + b * 7 + k;
                        gate.offer(r, ItemKind::Own, || Ok::<_, ()>(ok.then_some(i)))
                            .expect("offer");
                    }
                }
            }
            let (_, sampler) = gate.take_groups().pop_first().expect("group");
            let got = sampler.selected(3).expect("no gated item is selected");
            assert_eq!(got, want, "registered: {register}");
            gated
        };
        let (without, with) = (gated(false), gated(true));
        // 540 items are not selected. Registered, the first case alone proves 27 of each stratum's 40 items
        // unselectable (level 12 over five strata of 40, max 60: the 13th smallest key bounds each stratum).
        assert!(
            with > without,
            "registered {with}, not registered {without}"
        );
        assert!(with >= 5 * 27, "registered {with}");
    }

    #[test]
    fn the_sample_decided_at_the_final_case_is_the_whole_streams() {
        // Streams of 300 items over 7 strata whose final case (the last 50) registers its items: deciding
        // before they arrive gives the selection of the whole stream, for a tight and a loose budget and when
        // the final case is the whole stream.
        let en: Vec<Row> = (0..300).map(|i| row(i, 7, "en")).collect();
        for (max, earlier) in [(40, 250), (250, 250), (40, 0)] {
            let gate: TsvGate<usize> = TsvGate::new(max, 11);
            for (i, r) in en[..earlier].iter().enumerate() {
                gate.offer(r, ItemKind::Own, || Ok::<_, ()>(Some(i)))
                    .expect("offer");
            }
            let last: Vec<(&Row, ItemKind)> =
                en[earlier..].iter().map(|r| (r, ItemKind::Own)).collect();
            let registered = gate.keys(&last);
            gate.register_final(&en[earlier].collection, &en[earlier].case_id, registered);
            let items = gate
                .take_final(&en[earlier])
                .expect("the final case's rows");
            assert!(gate.take_final(&en[earlier]).is_none(), "taken once");
            let mut decided = gate.decide(&items);
            for (i, r) in en.iter().enumerate().skip(earlier) {
                gate.offer(r, ItemKind::Own, || Ok::<_, ()>(Some(i)))
                    .expect("offer");
            }
            let (key, sampler) = gate.take_groups().pop_first().expect("group");
            let (_, decided) = decided.pop_first().expect("decided group");
            assert_eq!(key, ("test".to_string(), "en".to_string()));
            let want = sampler.selected_keyed(11);
            assert_eq!(decided.len(), want.len().min(max as usize), "max {max}");
            for ((got_key, got), (want_key, payload)) in decided.iter().zip(&want) {
                assert_eq!(got_key, want_key);
                let i = payload.expect("every item has a payload");
                let expected = if i < earlier {
                    Decided::Stored(Some(i))
                } else {
                    Decided::Pending
                };
                assert_eq!(*got, expected, "item {i}");
            }
            assert!(
                decided.iter().any(|(_, d)| *d == Decided::Pending),
                "the final case has selected items (max {max}, {earlier} earlier)"
            );
        }
    }

    #[test]
    fn selection_is_independent_of_chunking_and_language_and_the_gate_is_sound() {
        let en: Vec<Row> = (0..600).map(|i| row(i, 5, "en")).collect();
        let ar: Vec<Row> = (0..600).map(|i| row(i, 5, "ar")).collect();
        let want = select(&TsvGate::new(60, 3), &en);
        assert_eq!(
            select(&TsvGate::new(60, 3), &ar),
            want,
            "same facts in Arabic"
        );
        // Cases of different sizes: the worker asks the gate for a whole case, makes "images" only for the
        // items it allows, then the sink sees the case. Gated items must never be selected.
        for chunk in [1usize, 7, 50, 600] {
            let gate: TsvGate<usize> = TsvGate::new(60, 3);
            let mut gated = 0;
            for (c, rows) in en.chunks(chunk).enumerate() {
                let asked: Vec<(&Row, ItemKind)> =
                    rows.iter().map(|r| (r, ItemKind::Own)).collect();
                let allowed = gate.may_select(&asked, None);
                for (k, (r, ok)) in rows.iter().zip(allowed).enumerate() {
                    gated += usize::from(!ok);
                    let i = c * chunk + k;
                    gate.offer(r, ItemKind::Own, || Ok::<_, ()>(ok.then_some(i)))
                        .expect("offer");
                }
            }
            let (_, sampler) = gate.take_groups().pop_first().expect("group");
            let got = sampler.selected(3).expect("no gated item is selected");
            assert_eq!(got, want, "chunks of {chunk}");
            // The gate saves work: most of the 540 unselected items get no image.
            assert!(gated >= 300, "chunks of {chunk}: only {gated} items gated");
        }
        // A selected item without payload is reported, not written.
        let gate: TsvGate<usize> = TsvGate::new(2, 0);
        for r in &en[..3] {
            gate.offer(r, ItemKind::Own, || Ok::<_, ()>(None))
                .expect("offer");
        }
        let (_, sampler) = gate.take_groups().pop_first().expect("group");
        assert!(sampler.selected(0).is_err());
    }

    #[test]
    fn fact_and_stratum_ignore_the_language() {
        let (en, ar) = (row(12, 5, "en"), row(12, 5, "ar"));
        assert_eq!(
            fact_id(&en, ItemKind::Own),
            "ds/c/case_0/bbox/T01/axial/12/2#own"
        );
        assert_eq!(
            fact_id(&en, ItemKind::Identify),
            fact_id(&ar, ItemKind::Identify)
        );
        assert_eq!(stratum(&en, ItemKind::Own), "bbox T01|2|axial|own");
        assert_eq!(stratum(&en, ItemKind::Own), stratum(&ar, ItemKind::Own));
    }

    #[test]
    fn every_piece_of_a_label_is_in_that_labels_stratum() {
        // `filters.single_instance = false`: piece 0 keeps the plain id, pieces 1, 2, … get `/piece<k>`.
        let piece = |k: usize, lang: &str| {
            let mut r = row(12, 5, lang);
            r.id =
                r.id.replace(&format!("/{lang}"), &format!("/piece{k}/{lang}"));
            r.piece_index = Some(k as i32);
            r.piece_count = Some(14);
            r
        };
        let plain = stratum(&row(12, 5, "en"), ItemKind::Own);
        for k in [1, 2, 13] {
            assert_eq!(stratum(&piece(k, "en"), ItemKind::Own), plain, "piece {k}");
            assert_eq!(stratum(&piece(k, "ar"), ItemKind::Own), plain, "piece {k}");
            // Still a fact of its own.
            assert_ne!(
                fact_id(&piece(k, "en"), ItemKind::Own),
                fact_id(&row(12, 5, "en"), ItemKind::Own)
            );
        }
        // A subject that only looks like a piece is kept (a landmark measurement may be named anything).
        let mut landmark = row(12, 5, "en");
        landmark.task_type = "distance".into();
        landmark.id = "ds/c/case_0/distance/T02/axial/12/piece1/en".into();
        assert!(stratum(&landmark, ItemKind::Own).contains("|piece1|"));
        // Piece 0 (a row about all pieces) keeps the plain id and the label's stratum.
        let mut all = row(12, 5, "en");
        all.piece_count = Some(3);
        assert_eq!(stratum(&all, ItemKind::Own), plain);
    }
}
