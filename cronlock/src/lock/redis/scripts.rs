//! The Lua scripts, and the one way they are called: `EVALSHA`, loading the
//! script when Redis does not have it (after a restart or `SCRIPT FLUSH`).
//!
//! Each script reads and checks everything before its first write, and its
//! first write is the one that can fail (a key of the wrong type, or Redis
//! out of memory, which refuses a script's first write): a claim is all or
//! nothing.

/// Claims a batch of ticks in one call.
///
/// `KEYS`: per claim, the job's `tick`, `claimed` and `run` keys.
/// `ARGV`: the skew margin (ms), the deadline (Redis ms), the most ticks
/// remembered per job, how long a job's state outlives its window (ms);
/// then per claim: tick (ms), token, run-lock TTL (ms), `1` when the job
/// does not allow overlap, the window (ms).
///
/// The reply is Redis's time, then a (status, value) pair per claim:
/// 0 taken, 1 granted (value: the fencing token), 2 a run still holds the
/// lock, 3 too early (value: ms until it is not), 4 failed (value: the
/// error), 5 too late (the claim waited past its deadline in Redis's queue;
/// nothing was written).
///
/// A job's `tick` key holds `mark fence window token floor`: the newest
/// claimed tick, the last fencing token, the widest window any instance
/// asked for, the newest claim's token, and the floor — when a claim widened
/// the window, the ticks the narrower window had already forgotten (at or
/// before the floor) count as taken; -1 when there is none. `claimed` holds
/// each claimed tick within the window as `tick:fence:token16`, scored by
/// the tick.
pub(super) const CLAIM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local margin = tonumber(ARGV[1])
local deadline = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local keep = tonumber(ARGV[4])
local claims = #KEYS / 3
local out = {now}
if now > deadline then
  for i = 1, claims do out[#out + 1] = 5; out[#out + 1] = 0 end
  return out
end
local function num(x) return string.format('%.0f', x) end
local function claim(k, a)
  local tick, token, ttl = tonumber(ARGV[a]), ARGV[a + 1], tonumber(ARGV[a + 2])
  local skip, window = ARGV[a + 3] == '1', tonumber(ARGV[a + 4])
  if not (tick and ttl and window) or ttl < 1 or window < ttl
    or not string.match(token, '^[%w_%-]+$') or #token < 16 then
    error('invalid claim arguments')
  end
  if tick > now + margin then return 3, tick - margin - now end
  local short = string.sub(token, 1, 16)
  local mark, fence, last, floor = -1, 0, '', -1
  local state = redis.call('GET', KEYS[k])
  if state then
    local m, f, w, l, o = string.match(state, '^(%-?%d+) (%d+) (%d+) (%S*) (%-?%d+)$')
    if not m then error('corrupt claim state in ' .. KEYS[k]) end
    mark, fence, last, floor = tonumber(m), tonumber(f), l, tonumber(o)
    -- A wider window than the job had: ticks the narrower one already
    -- forgot are unknown, so they count as taken.
    if window > tonumber(w) then floor = math.max(floor, mark - tonumber(w)) end
    window = math.max(window, tonumber(w))
  end
  if tick == mark then
    if last ~= short then return 0, 0 end
    -- A resend of the newest claim: its own fencing token, not the job's
    -- latest (an earlier tick may have been granted since).
    local own = redis.call('ZRANGEBYSCORE', KEYS[k + 1], ARGV[a], ARGV[a], 'LIMIT', 0, 1)[1]
    local f = own and string.match(own, '^%-?%d+:(%d+):')
    return 1, (f and tonumber(f)) or fence
  end
  if tick <= mark - window or tick <= floor then return 0, 0 end
  if tick < mark then
    local found = redis.call('ZRANGEBYSCORE', KEYS[k + 1], ARGV[a], ARGV[a], 'LIMIT', 0, 1)[1]
    if found then
      local f, l = string.match(found, '^%-?%d+:(%d+):(%S*)$')
      if l == short then return 1, tonumber(f) end
      return 0, 0
    end
    if redis.call('ZCARD', KEYS[k + 1]) >= cap then
      local oldest = redis.call('ZRANGE', KEYS[k + 1], 0, 0, 'WITHSCORES')[2]
      if oldest and tick < tonumber(oldest) then return 0, 0 end
    end
  end
  if skip then
    -- A run lock held by this very token is this claim's own: a claim that
    -- replaces an unanswered claim of an earlier tick presents its token.
    local holder = redis.call('GET', KEYS[k + 2])
    if holder and holder ~= token then return 2, 0 end
  end
  fence = math.max(fence + 1, tick)
  -- The first write: it fails, before anything changed, on a key of the
  -- wrong type or when Redis is out of memory.
  redis.call('ZADD', KEYS[k + 1], tick, ARGV[a] .. ':' .. num(fence) .. ':' .. short)
  if tick > mark then
    mark, last = tick, short
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], '-inf', num(mark - window))
    if redis.call('ZCARD', KEYS[k + 1]) > cap then
      redis.call('ZREMRANGEBYRANK', KEYS[k + 1], 0, -cap - 1)
    end
    redis.call('PEXPIRE', KEYS[k + 1], num(window + keep))
  end
  if floor <= mark - window then floor = -1 end
  redis.call('SET', KEYS[k],
    num(mark) .. ' ' .. num(fence) .. ' ' .. num(window) .. ' ' .. last .. ' ' .. num(floor),
    'PX', num(window + keep))
  if skip then redis.call('SET', KEYS[k + 2], token, 'PX', num(ttl)) end
  return 1, fence
end
for i = 0, claims - 1 do
  local ok, status, value = pcall(claim, i * 3 + 1, 5 + i * 5)
  if ok then
    out[#out + 1] = status
    out[#out + 1] = value
  else
    local message = tostring(type(status) == 'table' and status.err or status)
    -- A node that cannot take writes fails the whole call, so the client
    -- retires the connection and finds the writable primary.
    for _, code in ipairs({'READONLY', 'LOADING', 'MASTERDOWN', 'TRYAGAIN', 'CLUSTERDOWN'}) do
      if string.find(message, code, 1, true) then return redis.error_reply(message) end
    end
    out[#out + 1] = 4
    out[#out + 1] = message
  end
end
return out
";

/// Extends a run lock if it still holds the token: `KEYS[1]` the run key,
/// `ARGV` the token and the TTL (ms). 1 when extended.
pub(super) const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// Releases a batch of run locks: key `i` is deleted if it still holds token `i`.
pub(super) const RELEASE: &str = r"
local released = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then
    released[i] = redis.call('DEL', KEYS[i])
  else
    released[i] = 0
  end
end
return released
";

/// A script and its SHA1, as `EVALSHA` needs it.
#[derive(Debug)]
pub(super) struct Script {
    pub(super) source: &'static str,
    pub(super) hash: String,
}

impl Script {
    pub(super) fn new(source: &'static str) -> Script {
        Script {
            source,
            hash: redis::Script::new(source).get_hash().to_owned(),
        }
    }

    /// An `EVALSHA` of this script with `keys`; arguments go after.
    pub(super) fn call<K: redis::ToRedisArgs>(&self, keys: &[K]) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.hash).arg(keys.len()).arg(keys);
        cmd
    }

    /// The `SCRIPT LOAD` that makes [`Script::call`] work again.
    pub(super) fn load(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("SCRIPT");
        cmd.arg("LOAD").arg(self.source);
        cmd
    }
}
