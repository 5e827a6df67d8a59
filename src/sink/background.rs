//! Work the sinks hand back to the build's threads (Parquet row-group encoding, JSONL image files): sinks own
//! no threads; the pipeline lends them its pool through [`Background`].

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

/// Runs sink work in the background on the build's threads (sinks own no threads): a job must not block.
pub trait Background: Send + Sync {
    /// Runs `job` on another thread; returns at once.
    fn spawn(&self, job: Box<dyn FnOnce() + Send>);
    /// How many jobs run at once.
    fn threads(&self) -> usize;
}

/// Runs `job` on `background` (on this thread without one); its result comes back in the returned channel.
pub(super) fn start<T: Send + 'static>(
    background: Option<&Arc<dyn Background>>,
    job: impl FnOnce() -> T + Send + 'static,
) -> Receiver<T> {
    let (sender, receiver) = sync_channel(1);
    // Never blocks: the channel has room for the one result.
    let send = move || {
        let _ = sender.send(job());
    };
    match background {
        Some(background) => background.spawn(Box::new(send)),
        None => send(),
    }
    receiver
}

/// A test background: a thread per job, so jobs finish in any order.
#[cfg(test)]
pub(crate) struct ThreadPerJob(pub usize);

#[cfg(test)]
impl Background for ThreadPerJob {
    fn spawn(&self, job: Box<dyn FnOnce() + Send>) {
        std::thread::spawn(job);
    }

    fn threads(&self) -> usize {
        self.0
    }
}
