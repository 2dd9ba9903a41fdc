//! The day's visitor-hashing key, shared by every instance through Redis (`PREFIX:visitor-key:{day}`), so a
//! visitor reaching two instances counts once. It expires two days after its day began, and is never on disk
//! unless Redis itself persists it.

use futures_util::future::BoxFuture;

use super::Redis;
use crate::analytics::{DAY, DayKey, SharedDayKeys, random_key};

/// Day keys in Redis.
pub struct RedisDayKeys {
    redis: Redis,
}

impl RedisDayKeys {
    /// Day keys kept through `redis`.
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

fn hex(key: &DayKey) -> String {
    key.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<DayKey> {
    let mut key = [0; 16];
    if text.len() != 32 {
        return None;
    }
    for (index, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(key)
}

impl SharedDayKeys for RedisDayKeys {
    fn day_key(&self, day: i64) -> BoxFuture<'_, Option<DayKey>> {
        Box::pin(async move {
            let key = self.redis.key(&["visitor-key", &day.to_string()]);
            let mut cmd = ::redis::cmd("SET");
            // The first instance to ask makes the key; every other one reads that one back.
            cmd.arg(&key).arg(hex(&random_key())).arg("NX").arg("EX").arg(2 * DAY);
            cmd.query_async::<()>(&mut self.redis.clone()).await.ok()?;
            let stored: String = ::redis::cmd("GET").arg(&key).query_async(&mut self.redis.clone()).await.ok()?;
            unhex(&stored)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_their_text_form() {
        let key = random_key();
        assert_eq!(unhex(&hex(&key)), Some(key));
        assert_eq!(unhex("zz"), None);
    }
}
