//! Worker slots: how many batches run at once, and in which order they get to.

/// Slots for batch workers, granted in ticket order (tickets are taken as batches are
/// created), so batches run in the order they were created: with one slot (an in-process
/// model) the sequence of requests, and so every answer, is the same on every run.
pub(crate) struct WorkerSlots {
    state: std::sync::Mutex<SlotState>,
    changed: std::sync::Condvar,
}

struct SlotState {
    free: usize,
    next_ticket: u64,
    next_served: u64,
}

/// A held worker slot, given back when dropped.
pub(crate) struct WorkerSlot<'a>(&'a WorkerSlots);

impl WorkerSlots {
    pub(crate) fn new(count: usize) -> Self {
        Self {
            state: std::sync::Mutex::new(SlotState {
                free: count.max(1),
                next_ticket: 0,
                next_served: 0,
            }),
            changed: std::sync::Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place in the queue.
    pub(crate) fn ticket(&self) -> u64 {
        let mut state = self.lock();
        state.next_ticket += 1;
        state.next_ticket - 1
    }

    /// Wait for a free slot and this ticket's turn.
    pub(crate) fn acquire(&self, ticket: u64) -> WorkerSlot<'_> {
        let mut state = self.lock();
        while state.free == 0 || state.next_served != ticket {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.free -= 1;
        state.next_served += 1;
        self.changed.notify_all();
        WorkerSlot(self)
    }
}

impl Drop for WorkerSlot<'_> {
    fn drop(&mut self) {
        self.0.lock().free += 1;
        self.0.changed.notify_all();
    }
}
