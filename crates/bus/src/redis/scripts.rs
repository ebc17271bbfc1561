//! The Lua scripts of the Redis backends: each does in one atomic step what must not
//! interleave with other clients' commands. Keys are named in `keys.rs`.

/// Single server: reads the subscriber set and publishes in one atomic step (`KEYS[1]` = the
/// set, `ARGV[1]` = the channel, `ARGV[2]` = the payload, `ARGV[3]` = the lease-key prefix,
/// `keys::SESSION_PREFIX`). Returns the subscribed session ids whose lease is still held,
/// and removes the others from the set (their session ended without leaving it, for
/// example after a crash).
///
/// The lease keys are named from the script rather than passed as KEYS: this works on one
/// server, and the Cluster bus keeps a topic's state within its slot instead
/// ([`SHARDED_PUBLISH`]).
pub(super) const PUBLISH: &str = r"
local sessions = redis.call('SMEMBERS', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
local live = {}
for _, id in ipairs(sessions) do
  if redis.call('EXISTS', ARGV[3] .. id .. '}') == 1 then
    live[#live + 1] = id
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return live
";

/// Single server: takes the sessions whose lease is gone out of a subscriber set (`KEYS[1]`
/// = the set, `ARGV[1]` = the lease-key prefix), as [`PUBLISH`] does, without publishing:
/// for topics only ever broadcast on.
pub(super) const PRUNE: &str = r"
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. id .. '}') == 0 then
    redis.call('SREM', KEYS[1], id)
  end
end
return 0
";

/// Cluster: reads the subscriber set and publishes on the shard channel in one atomic step
/// on the topic's shard (`KEYS[1]` = the set, `ARGV[1]` = the channel, `ARGV[2]` = the payload).
/// The lease keys live in other slots, so the caller checks them afterwards.
pub(super) const SHARDED_PUBLISH: &str = r"
local sessions = redis.call('SMEMBERS', KEYS[1])
redis.call('SPUBLISH', ARGV[1], ARGV[2])
return sessions
";

/// Both topologies: moves a consumer's cursor forward only (`KEYS[1]` = cursors hash,
/// `ARGV[1]` = consumer, `ARGV[2]` = major, `ARGV[3]` = minor).
pub(super) const ACKNOWLEDGE: &str = r"
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local major, minor = string.match(held, '^(%d+)-(%d+)$')
  local a, b = tonumber(ARGV[2]), tonumber(ARGV[3])
  major, minor = tonumber(major), tonumber(minor)
  if major > a or (major == a and minor >= b) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '-' .. ARGV[3])
return 1
";
