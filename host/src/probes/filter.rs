//! The host's mirror of the in-kernel table of watched cgroups and of the syscall counts
//! rows: which cgroup sits in which `DIRECT` entry, which spilled to `OVERFLOW`, and which
//! row each counts in. Pure bookkeeping that yields the map operations in a safe order, so
//! it is tested without a kernel.

use bulwark_probes_common::{Watched, DIRECT_LEN, NO_SLOT, OVERFLOWED};
use std::collections::{BTreeMap, HashMap};

/// A change to the in-kernel filter, in the order it must be made.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Op {
    Direct(u32, Watched),
    OverflowInsert(u64, u32),
    OverflowRemove(u64),
    /// Zero a counts row before a new cgroup uses it.
    Clear(u32),
    /// Move a row's counts into the retained totals of a cgroup no longer watched.
    Harvest(u64, u32),
}

/// The host's mirror of the watched-cgroup table and of the counts rows: which cgroup
/// sits in which `DIRECT` entry, which spilled to `OVERFLOW`, and which row each counts
/// in. Pure bookkeeping that yields the map operations, so it is tested without a kernel.
#[derive(Debug, Default)]
pub(super) struct Filter {
    rows: u32,
    next_row: u32,
    free_rows: Vec<u32>,
    /// Watched cgroup → its counts row (or `NO_SLOT`).
    pub(super) cgroups: BTreeMap<u64, u32>,
    /// `DIRECT` index → the cgroup in that entry.
    direct: HashMap<u32, u64>,
}

fn index(cgroup: u64) -> u32 {
    (cgroup as u32) & (DIRECT_LEN - 1)
}

impl Filter {
    pub(super) fn new(rows: u32) -> Filter {
        Filter {
            rows,
            ..Filter::default()
        }
    }

    /// Watched cgroups other than `direct`'s occupant that share its index.
    fn overflowed(&self, idx: u32) -> impl Iterator<Item = (u64, u32)> + '_ {
        let occupant = self.direct.get(&idx).copied();
        self.cgroups
            .iter()
            .filter(move |(c, _)| index(**c) == idx && Some(**c) != occupant)
            .map(|(c, r)| (*c, *r))
    }

    fn entry(&self, idx: u32) -> Watched {
        match self.direct.get(&idx) {
            None => Watched::default(),
            Some(c) => Watched {
                cgroup: *c,
                slot: self.cgroups.get(c).copied().unwrap_or(NO_SLOT),
                flags: if self.overflowed(idx).next().is_some() {
                    OVERFLOWED
                } else {
                    0
                },
            },
        }
    }

    pub(super) fn add(&mut self, cgroup: u64) -> Vec<Op> {
        if cgroup == 0 || self.cgroups.contains_key(&cgroup) {
            return Vec::new();
        }
        let mut ops = Vec::new();
        let row = if let Some(r) = self.free_rows.pop() {
            ops.push(Op::Clear(r));
            r
        } else if self.next_row < self.rows {
            self.next_row += 1;
            self.next_row - 1
        } else {
            NO_SLOT
        };
        self.cgroups.insert(cgroup, row);
        let idx = index(cgroup);
        if let std::collections::hash_map::Entry::Vacant(e) = self.direct.entry(idx) {
            e.insert(cgroup);
            // The row first, then the cgroup: a reader never pairs this cgroup with
            // another's row.
            ops.push(Op::Direct(
                idx,
                Watched {
                    cgroup: 0,
                    ..self.entry(idx)
                },
            ));
        } else {
            ops.push(Op::OverflowInsert(cgroup, row));
        }
        ops.push(Op::Direct(idx, self.entry(idx)));
        ops
    }

    pub(super) fn remove(&mut self, cgroup: u64) -> Vec<Op> {
        let Some(row) = self.cgroups.remove(&cgroup) else {
            return Vec::new();
        };
        let idx = index(cgroup);
        let mut ops = Vec::new();
        if self.direct.get(&idx) == Some(&cgroup) {
            let next = self.overflowed(idx).next();
            match next {
                Some((next, _)) => {
                    // Promote a spilled cgroup: written to DIRECT before leaving OVERFLOW.
                    self.direct.insert(idx, next);
                    ops.push(Op::Direct(idx, self.entry(idx)));
                    ops.push(Op::OverflowRemove(next));
                }
                None => {
                    self.direct.remove(&idx);
                    ops.push(Op::Direct(idx, Watched::default()));
                }
            }
        } else {
            ops.push(Op::OverflowRemove(cgroup));
            ops.push(Op::Direct(idx, self.entry(idx)));
        }
        if row != NO_SLOT {
            ops.push(Op::Harvest(cgroup, row));
            self.free_rows.push(row);
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays ops into a model of the kernel maps and checks every watched cgroup is found
    /// the way the program looks (DIRECT, then OVERFLOW when flagged) with its own row.
    fn lookup(
        direct: &HashMap<u32, Watched>,
        overflow: &HashMap<u64, u32>,
        cg: u64,
    ) -> Option<u32> {
        let e = direct.get(&index(cg)).copied().unwrap_or_default();
        if e.cgroup == cg {
            return Some(e.slot);
        }
        if e.flags & OVERFLOWED == 0 {
            return None;
        }
        overflow.get(&cg).copied()
    }

    #[test]
    fn filter_keeps_colliding_cgroups_findable() {
        let mut f = Filter::new(2);
        let (mut direct, mut overflow) = (HashMap::new(), HashMap::new());
        let mut harvested = Vec::new();
        let mut play =
            |ops: Vec<Op>, direct: &mut HashMap<u32, Watched>, overflow: &mut HashMap<u64, u32>| {
                for op in ops {
                    match op {
                        Op::Direct(i, w) => {
                            direct.insert(i, w);
                        }
                        Op::OverflowInsert(c, r) => {
                            overflow.insert(c, r);
                        }
                        Op::OverflowRemove(c) => {
                            overflow.remove(&c);
                        }
                        Op::Clear(_) => {}
                        Op::Harvest(c, r) => harvested.push((c, r)),
                    }
                }
            };
        // Three cgroups on one index, one elsewhere; two rows only.
        let same = [5u64, 5 + DIRECT_LEN as u64, 5 + 2 * DIRECT_LEN as u64];
        for c in same.iter().chain([7u64].iter()) {
            play(f.add(*c), &mut direct, &mut overflow);
        }
        assert_eq!(lookup(&direct, &overflow, same[0]), Some(0));
        assert_eq!(lookup(&direct, &overflow, same[1]), Some(1));
        assert_eq!(lookup(&direct, &overflow, same[2]), Some(NO_SLOT));
        assert_eq!(lookup(&direct, &overflow, 7), Some(NO_SLOT));
        assert_eq!(lookup(&direct, &overflow, 6), None);
        assert_eq!(lookup(&direct, &overflow, 5 + 3 * DIRECT_LEN as u64), None);
        // The occupant leaves: a spilled one is promoted, the others stay findable.
        play(f.remove(same[0]), &mut direct, &mut overflow);
        assert_eq!(lookup(&direct, &overflow, same[0]), None);
        assert_eq!(lookup(&direct, &overflow, same[1]), Some(1));
        assert_eq!(lookup(&direct, &overflow, same[2]), Some(NO_SLOT));
        // Its row is harvested, then cleared before the next cgroup counts in it.
        let ops = f.add(9);
        assert_eq!(ops.first(), Some(&Op::Clear(0)));
        play(ops, &mut direct, &mut overflow);
        assert_eq!(lookup(&direct, &overflow, 9), Some(0));
        play(f.remove(same[2]), &mut direct, &mut overflow);
        play(f.remove(same[1]), &mut direct, &mut overflow);
        assert_eq!(
            direct.get(&index(5)).copied().unwrap_or_default(),
            Watched::default()
        );
        assert!(overflow.is_empty() || overflow.keys().all(|c| *c == 7));
        assert_eq!(harvested, vec![(same[0], 0), (same[1], 1)]);
        // Adding twice, removing what is not there, and cgroup 0 change nothing.
        assert!(f.add(9).is_empty());
        assert!(f.remove(12345).is_empty());
        assert!(f.add(0).is_empty());
    }
}
