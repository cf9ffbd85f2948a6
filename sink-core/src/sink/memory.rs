//! The memory account of one writer: what its open parts hold, against its budget.
//!
//! Each open part holds a [`MemoryShare`], the bytes the account has counted for it. The total only
//! changes through the account's methods, which move a share and the total together, so the total
//! is always the sum of the shares of the parts still open.

/// The bytes one open part is counted for. Not `Clone`: a part's share exists once, and
/// [`MemoryAccount::release`] consumes it.
#[derive(Debug, Default)]
pub(super) struct MemoryShare(usize);

impl MemoryShare {
    /// The bytes counted for the part.
    pub(super) fn bytes(&self) -> usize {
        self.0
    }
}

/// The memory of one writer's open parts (buffer capacities and bulk writers' `buffered_bytes`),
/// against `memory_budget`.
#[derive(Debug)]
pub(super) struct MemoryAccount {
    total: usize,
    budget: usize,
}

impl MemoryAccount {
    /// An empty account with this budget.
    pub(super) fn new(budget: usize) -> Self {
        MemoryAccount { total: 0, budget }
    }

    /// Counts a part for `bytes` from now on (it was counted for `share` until now). On the path of
    /// every record: no branch, no call.
    #[inline]
    pub(super) fn set(&mut self, share: &mut MemoryShare, bytes: usize) {
        self.total = self.total + bytes - share.0;
        share.0 = bytes;
    }

    /// A part is gone (closed): its share leaves the total.
    pub(super) fn release(&mut self, share: MemoryShare) {
        self.total -= share.0;
    }

    /// Bytes held by all open parts.
    pub(super) fn total(&self) -> usize {
        self.total
    }

    /// The budget.
    pub(super) fn budget(&self) -> usize {
        self.budget
    }

    /// True when the parts hold more than the budget.
    #[inline]
    pub(super) fn over_budget(&self) -> bool {
        self.total > self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_the_sum_of_the_shares() {
        let mut account = MemoryAccount::new(100);
        let (mut a, mut b) = (MemoryShare::default(), MemoryShare::default());
        account.set(&mut a, 60);
        account.set(&mut b, 30);
        assert_eq!((account.total(), a.bytes(), b.bytes()), (90, 60, 30));
        assert!(!account.over_budget());
        account.set(&mut a, 80);
        assert_eq!(account.total(), 110);
        assert!(account.over_budget());
        account.set(&mut b, 0);
        account.release(a);
        assert_eq!(account.total(), 0);
        assert!(!account.over_budget());
        account.release(b);
        assert_eq!(account.total(), 0);
    }
}
