//! The `redis-server` settings that make a Redis node behave like an in-process node with
//! the same policy and budget, for the code that launches local Redis topologies (tests,
//! `tiercache demo --redis`, later `tiercache up`).

use tiercache_cache::{PolicyKind, PolicySpec};

use crate::error::{TierError, TierResult};

/// Redis's default `maxmemory-samples`.
const REDIS_DEFAULT_SAMPLES: u32 = 5;

/// `redis-server` arguments setting `maxmemory` to `maxmemory_bytes` and `maxmemory-policy`
/// to `policy` (with `maxmemory-samples`, `lfu-log-factor` and `lfu-decay-time` when the
/// policy names them; Redis's default 5 samples otherwise). Only Redis's eight policies exist
/// in Redis: the others are an error.
pub fn redis_server_args(policy: &PolicySpec, maxmemory_bytes: u64) -> TierResult<Vec<String>> {
    let redis_policy = matches!(
        policy.kind,
        PolicyKind::NoEviction
            | PolicyKind::AllKeysLru
            | PolicyKind::AllKeysLfu
            | PolicyKind::AllKeysRandom
            | PolicyKind::VolatileLru
            | PolicyKind::VolatileLfu
            | PolicyKind::VolatileRandom
            | PolicyKind::VolatileTtl
    );
    if !redis_policy {
        return Err(TierError::Unsupported(format!(
            "Redis has no `{}` policy: use one of noeviction, allkeys-lru, allkeys-lfu, \
             allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl",
            policy.kind.name()
        )));
    }
    if maxmemory_bytes == 0 {
        // Redis reads `maxmemory 0` as "no limit", the opposite of what was asked.
        return Err(TierError::Unsupported(
            "a Redis node needs a memory budget of at least 1 byte".into(),
        ));
    }
    let mut args = vec![
        "--maxmemory".to_owned(),
        maxmemory_bytes.to_string(),
        "--maxmemory-policy".to_owned(),
        policy.kind.name().to_owned(),
    ];
    // Redis always samples; our exact policies map to its default sampling, stated
    // explicitly so a server's configuration says what was compared.
    if policy.sampling.is_none() {
        args.extend([
            "--maxmemory-samples".to_owned(),
            REDIS_DEFAULT_SAMPLES.to_string(),
        ]);
    }
    if let Some(sampling) = policy.sampling {
        args.extend([
            "--maxmemory-samples".to_owned(),
            sampling.samples.to_string(),
            "--lfu-log-factor".to_owned(),
            sampling.log_factor.to_string(),
            "--lfu-decay-time".to_owned(),
            sampling.decay_minutes.to_string(),
        ]);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_policies_map_and_others_are_refused() {
        let args = redis_server_args(&"allkeys-lfu:samples=10".parse().unwrap(), 1 << 20).unwrap();
        assert_eq!(
            args,
            [
                "--maxmemory",
                "1048576",
                "--maxmemory-policy",
                "allkeys-lfu",
                "--maxmemory-samples",
                "10",
                "--lfu-log-factor",
                "10",
                "--lfu-decay-time",
                "1",
            ]
        );
        let exact = redis_server_args(&"volatile-ttl".parse().unwrap(), 10).unwrap();
        assert_eq!(
            exact,
            [
                "--maxmemory",
                "10",
                "--maxmemory-policy",
                "volatile-ttl",
                "--maxmemory-samples",
                "5"
            ]
        );
        for other in ["s3fifo", "sieve", "fifo", "w-tinylfu"] {
            let error = redis_server_args(&other.parse().unwrap(), 1 << 20).unwrap_err();
            assert!(error.to_string().contains("Redis has no"), "{error}");
        }
        assert!(redis_server_args(&"allkeys-lru".parse().unwrap(), 0).is_err());
    }
}
