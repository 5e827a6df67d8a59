//! Work the sinks hand back to the build's threads (Parquet row-group encoding, JSONL image files): sinks own
//! no threads; the pipeline lends them its pool through [`Background`].

/// Runs sink work in the background on the build's threads (sinks own no threads): a job must not block.
pub trait Background: Send + Sync {
    /// Runs `job` on another thread; returns at once.
    fn spawn(&self, job: Box<dyn FnOnce() + Send>);
    /// How many jobs run at once.
    fn threads(&self) -> usize;
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
