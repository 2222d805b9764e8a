//! Ordered acknowledgement tracking.
//!
//! Sources checkpoint only what is durable downstream (brief §3): a file source may store offset
//! N only when every record before N was acked; a Kafka consumer may store offset N only when
//! every message of that partition before N was processed. Acks arrive out of order;
//! [`OrderedAcks`] turns them into a monotonically advancing watermark.

use std::collections::VecDeque;

/// A ticket for one in-flight record, returned by [`OrderedAcks::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Tracks in-flight records in the order they were read.
#[derive(Debug, Clone)]
pub struct OrderedAcks<P> {
    /// Ticket number of `pending[0]`.
    base: u64,
    /// (checkpoint after this record, state)
    pending: VecDeque<(P, Slot)>,
    /// Entries of `pending` that are no longer in flight (done or abandoned).
    settled: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    InFlight,
    Done,
    /// Dropped without an ack: the watermark never passes it, but nobody waits for it either.
    Abandoned,
}

impl<P> Default for OrderedAcks<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> OrderedAcks<P> {
    pub fn new() -> Self {
        Self {
            base: 0,
            pending: VecDeque::new(),
            settled: 0,
        }
    }

    /// Registers a record read from the source; `checkpoint_after` is the position to store once
    /// it and everything before it are acked (the offset after the record).
    pub fn push(&mut self, checkpoint_after: P) -> Ticket {
        let t = Ticket(self.base + self.pending.len() as u64);
        self.pending.push_back((checkpoint_after, Slot::InFlight));
        t
    }

    /// Marks a record acked. Returns the new watermark when it advanced.
    pub fn complete(&mut self, ticket: Ticket) -> Option<P> {
        let idx = ticket.0.checked_sub(self.base)? as usize;
        let slot = self.pending.get_mut(idx)?;
        if slot.1 != Slot::InFlight {
            return None;
        }
        slot.1 = Slot::Done;
        self.settled += 1;
        let mut advanced = None;
        while self.pending.front().is_some_and(|(_, s)| *s == Slot::Done) {
            let (pos, _) = self.pending.pop_front().expect("front exists");
            self.base += 1;
            self.settled -= 1;
            advanced = Some(pos);
        }
        advanced
    }

    /// Marks a record abandoned (its ack was dropped): it stops counting as in flight, and the
    /// watermark stays before it, so it is read again after a restart.
    pub fn abandon(&mut self, ticket: Ticket) {
        let Some(idx) = ticket.0.checked_sub(self.base) else {
            return;
        };
        if let Some(slot) = self.pending.get_mut(idx as usize) {
            if slot.1 == Slot::InFlight {
                slot.1 = Slot::Abandoned;
                self.settled += 1;
            }
        }
    }

    /// Records read but not yet acked.
    pub fn in_flight(&self) -> usize {
        self.pending.len() - self.settled
    }

    /// Records read whose checkpoint cannot yet be stored (acked ones behind an un-acked one
    /// included).
    pub fn window(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn watermark_waits_for_the_oldest() {
        let mut acks = OrderedAcks::new();
        let a = acks.push(10u64);
        let b = acks.push(20);
        let c = acks.push(30);
        assert_eq!(acks.complete(b), None);
        assert_eq!(acks.complete(c), None);
        assert_eq!(acks.in_flight(), 1);
        assert_eq!(acks.complete(a), Some(30));
        assert!(acks.is_empty());
        assert_eq!(
            acks.complete(a),
            None,
            "a second ack of a ticket is ignored"
        );
    }

    #[test]
    fn abandoned_blocks_the_watermark_but_is_not_in_flight() {
        let mut acks = OrderedAcks::new();
        let a = acks.push(1u64);
        let b = acks.push(2);
        acks.abandon(a);
        assert_eq!(acks.in_flight(), 1);
        assert_eq!(acks.complete(b), None);
        assert_eq!(acks.in_flight(), 0);
        assert_eq!(
            acks.complete(a),
            None,
            "an abandoned record cannot be acked later"
        );
    }

    proptest! {
        #[test]
        fn watermark_is_the_longest_acked_prefix(order in Just((0..40usize).collect::<Vec<_>>()).prop_shuffle()) {
            let mut acks = OrderedAcks::new();
            let tickets: Vec<_> = (0..40u64).map(|i| acks.push(i + 1)).collect();
            let mut acked = [false; 40];
            let mut watermark = 0;
            for i in order {
                acked[i] = true;
                if let Some(w) = acks.complete(tickets[i]) {
                    prop_assert!(w > watermark);
                    watermark = w;
                }
                let prefix = acked.iter().take_while(|x| **x).count() as u64;
                prop_assert_eq!(watermark, prefix);
            }
            prop_assert_eq!(watermark, 40);
        }
    }
}
