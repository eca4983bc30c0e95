/// What the gateway offers a plugin. The policy macros pass the real one; tests can pass a
/// fake.
pub trait Host {
    fn log(&self, level: Level, message: &str);
    /// Nanoseconds on a monotonic clock; only differences mean anything.
    fn monotonic_now(&self) -> u64;
    /// A uniformly random number (not for cryptography).
    fn random(&self) -> u64;
    /// The key-value store shared by every instance of this plugin (all workers, reloads).
    fn store_get(&self, key: &str) -> Option<Vec<u8>>;
    fn store_set(&self, key: &str, value: &[u8]) -> Result<(), String>;
    fn store_remove(&self, key: &str);
    /// Adds `delta` to the counter at `key` (missing counts as 0) and returns the sum.
    fn store_increment(&self, key: &str, delta: i64) -> Result<i64, String>;
    /// Live state of one upstream (balancers only; `None` elsewhere or out of range).
    fn upstream_load(&self, index: usize) -> Option<crate::Load>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}
