//! The key-value store a plugin shares across its instances (every worker, every reload).
//! Bounded, so a plugin cannot grow the gateway's memory through it.

use std::collections::HashMap;

use parking_lot::Mutex;

const MAX_ENTRIES: usize = 10_000;
const MAX_BYTES: usize = 4 * 1024 * 1024;
const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KvError {
    #[error("key longer than {MAX_KEY} bytes")]
    KeyTooLong,
    #[error("value longer than {MAX_VALUE} bytes")]
    ValueTooLong,
    #[error("store full ({MAX_ENTRIES} entries or {MAX_BYTES} bytes)")]
    Full,
    #[error("the value at this key is not an 8-byte counter")]
    NotACounter,
}

#[derive(Default)]
pub struct KvStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Vec<u8>>,
    bytes: usize,
}

impl Inner {
    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        if key.len() > MAX_KEY {
            return Err(KvError::KeyTooLong);
        }
        if value.len() > MAX_VALUE {
            return Err(KvError::ValueTooLong);
        }
        let old = self.map.get(&key).map(|v| key.len() + v.len());
        let new_bytes = self.bytes - old.unwrap_or(0) + key.len() + value.len();
        if (old.is_none() && self.map.len() >= MAX_ENTRIES) || new_bytes > MAX_BYTES {
            return Err(KvError::Full);
        }
        self.bytes = new_bytes;
        self.map.insert(key, value);
        Ok(())
    }
}

impl KvStore {
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.inner.lock().map.get(key).cloned()
    }

    pub fn set(&self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.inner.lock().set(key, value)
    }

    pub fn remove(&self, key: &str) {
        let mut inner = self.inner.lock();
        if let Some(v) = inner.map.remove(key) {
            inner.bytes -= key.len() + v.len();
        }
    }

    /// Read and write happen under one lock, so concurrent increments never lose an update.
    pub fn increment(&self, key: String, delta: i64) -> Result<i64, KvError> {
        let mut inner = self.inner.lock();
        let current = match inner.map.get(&key) {
            None => 0,
            Some(v) => {
                i64::from_le_bytes(v.as_slice().try_into().map_err(|_| KvError::NotACounter)?)
            }
        };
        let sum = current.wrapping_add(delta);
        inner.set(key, sum.to_le_bytes().to_vec())?;
        Ok(sum)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_counts() {
        let kv = KvStore::default();
        assert_eq!(kv.increment("n".into(), 2), Ok(2));
        assert_eq!(kv.increment("n".into(), -5), Ok(-3));
        kv.set("s".into(), b"abc".to_vec()).unwrap();
        assert_eq!(kv.increment("s".into(), 1), Err(KvError::NotACounter));
        assert_eq!(kv.set("x".repeat(300), vec![]), Err(KvError::KeyTooLong));
        for i in 0..MAX_ENTRIES - 2 {
            kv.set(format!("k{i}"), vec![]).unwrap();
        }
        assert_eq!(kv.set("one-more".into(), vec![]), Err(KvError::Full));
        kv.remove("s");
        assert_eq!(kv.len(), MAX_ENTRIES - 1);
    }
}
