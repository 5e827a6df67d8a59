//! The build's "stop now" switch. The CLI's SIGINT/SIGTERM handler (`cli/signals.rs`) stores the signal's
//! number here; the writer loop (`stream.rs`) looks at it between row batches and while it waits for a case,
//! and ends the build with [`super::BuildError::Interrupted`], so every writer's `Drop` removes its partial
//! files and the dataset folder's lock is released. A library caller that installs no handler never sees it set.

use std::sync::atomic::{AtomicUsize, Ordering};

static SIGNAL: AtomicUsize = AtomicUsize::new(0);

/// Where a signal handler stores the number of the signal that asks the build to stop (0: none).
pub fn slot() -> &'static AtomicUsize {
    &SIGNAL
}

/// The signal that asked the build to stop, if one did.
pub fn requested() -> Option<usize> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}
