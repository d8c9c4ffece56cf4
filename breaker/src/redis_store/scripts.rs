//! The Lua scripts that make every shared transition atomic on the server.
//!
//! Each script runs as one unit on Redis, so exactly one instance performs
//! each transition, and a report or probe of an older generation is
//! discarded. Time is the server's (`TIME`), so instances' clocks need not
//! agree. Keys: `KEYS[1]` the state hash, `KEYS[2]` the window list,
//! `KEYS[3]` the probe leases (a sorted set scored by lease end).
//! Common arguments: `ARGV[1]` the pub/sub channel, `ARGV[2]` the breaker
//! name, `ARGV[3]` the keys' time to live in ms, `ARGV[4]` the generation
//! the caller knows (-1: none yet).
//!
//! Every script returns `{verdict, generation, state code, open ms left}`
//! (state codes: 0 closed, 1 open, 2 half-open).

/// Reads the state, creates it for a new name (at the generation the
/// caller knows, so that a name whose keys expired or were lost with a
/// restarted server never goes back in generations), and turns an open
/// state whose period has ended half-open.
const PRELUDE: &str = r#"
local h, wkey, pkey = KEYS[1], KEYS[2], KEYS[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', h, 'state', 'gen', 'until', 'cf', 'open_ms', 'hs')
local state = f[1] or 'closed'
local gen = tonumber(f[2]) or -1
local till = tonumber(f[3]) or 0
local cf = tonumber(f[4]) or 0
local open_ms = tonumber(f[5]) or 0
local hs = tonumber(f[6]) or 0
local channel, name, ttl, known = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local codes = {closed = 0, open = 1, half_open = 2}

local function left()
  if state == 'open' then return math.max(till - now, 0) end
  return 0
end
local function save()
  redis.call('HSET', h, 'state', state, 'gen', gen, 'until', till, 'cf', cf,
    'open_ms', open_ms, 'hs', hs)
end
local function move(to)
  state = to
  gen = gen + 1
  cf = 0
  hs = 0
  redis.call('DEL', wkey)
  save()
  redis.call('PUBLISH', channel,
    -- Concatenated, not formatted with %s, which stops at a NUL byte and
    -- would name another breaker.
    string.format('%d %d %d ', gen, codes[state], left()) .. name)
end
local function open_for(ms)
  open_ms = ms
  till = now + ms
  move('open')
end
local function reply(verdict)
  for _, k in ipairs({h, wkey, pkey}) do redis.call('PEXPIRE', k, ttl) end
  return {verdict, gen, codes[state], left()}
end

if gen < 0 then
  gen = math.max(known, 0)
  save()
end
if state == 'open' and now >= till then move('half_open') end
"#;

/// A member's batch of outcomes, and a trip it proposes.
///
/// `ARGV[5..]`: successes, failures, slow calls, the trailing consecutive
/// failures (when the batch has successes), whether the member's own
/// breaker tripped (1/0), the open period in ms, `max_failures` (0: off),
/// the failure-rate and slow-rate thresholds (0: off), `minimum_calls`,
/// the window kind (0 none, 1 the last N calls, 2 a span of ms), its size,
/// and the window's bucket width in ms.
///
/// Counts are taken only while closed, and only from a member that knows
/// the current generation or none yet: a report from before the last
/// transition is stale and discarded (verdict 0). A member that knows no
/// generation has just joined, or rejoined after the server was
/// unreachable; its outcomes are recent, and a trip it proposes was
/// decided on outcomes the server never saw.
const REPORT: &str = r#"
local s, fl, slow = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local trailing, trip = tonumber(ARGV[8]), ARGV[9] == '1'
local timeout_ms, max_failures = tonumber(ARGV[10]), tonumber(ARGV[11])
local failure_rate, slow_rate = tonumber(ARGV[12]), tonumber(ARGV[13])
local min_calls, kind, size, bucket = tonumber(ARGV[14]), tonumber(ARGV[15]),
  tonumber(ARGV[16]), tonumber(ARGV[17])
if state ~= 'closed' or not (known == gen or known < 0) then
  return reply(0)
end
if s > 0 then cf = trailing else cf = cf + fl end
if s + fl > 0 then redis.call('HSET', h, 'cf', cf) end
if max_failures > 0 and cf >= max_failures then trip = true end
if kind > 0 and s + fl > 0 then
  local head = redis.call('LINDEX', wkey, 0)
  local merged = false
  if head then
    local ts, a, b, c = string.match(head, '(%d+) (%d+) (%d+) (%d+)')
    if ts and now - tonumber(ts) < bucket then
      redis.call('LSET', wkey, 0, string.format('%d %d %d %d', ts, a + s, b + fl, c + slow))
      merged = true
    end
  end
  if not merged then
    redis.call('LPUSH', wkey, string.format('%d %d %d %d', now, s, fl, slow))
  end
end
if kind > 0 and not trip then
  local calls, fails, slows, keep = 0, 0, 0, 0
  for i, e in ipairs(redis.call('LRANGE', wkey, 0, -1)) do
    local ts, a, b, c = string.match(e, '(%d+) (%d+) (%d+) (%d+)')
    ts, a, b, c = tonumber(ts), tonumber(a), tonumber(b), tonumber(c)
    if kind == 2 and ts <= now - size then break end
    local n = a + b
    keep = i
    if kind == 1 and calls + n >= size then
      local part = (size - calls) / n
      calls, fails, slows = size, fails + b * part, slows + c * part
      break
    end
    calls, fails, slows = calls + n, fails + b, slows + c
  end
  if keep == 0 then redis.call('DEL', wkey) else redis.call('LTRIM', wkey, 0, keep - 1) end
  local enough = min_calls
  if kind == 1 then enough = math.min(min_calls, size) end
  if calls > 0 and calls >= enough then
    if failure_rate > 0 and fails / calls >= failure_rate then trip = true end
    if slow_rate > 0 and slows / calls >= slow_rate then trip = true end
  end
end
if trip then open_for(timeout_ms) end
return reply(1)
"#;

/// Asks for one of the fleet's half-open probe slots.
///
/// `ARGV[5..]`: the lease's member id, the lease in ms, and
/// `half_open_max_calls`. Verdict 1: granted (or the fleet is closed
/// again); 0: refused. A lease ends when its probe reports, or when it
/// runs out (a process that died holding it).
const PROBE: &str = r#"
if state == 'closed' then return reply(1) end
if state == 'open' then return reply(0) end
redis.call('ZREMRANGEBYSCORE', pkey, '-inf', now)
if redis.call('ZCARD', pkey) < tonumber(ARGV[7]) then
  redis.call('ZADD', pkey, now + tonumber(ARGV[6]), ARGV[5])
  return reply(1)
end
return reply(0)
"#;

/// A probe's outcome: frees its lease and, if the probe belongs to the
/// current half-open period, closes the fleet's breaker after
/// `success_threshold` successes or re-opens it (with backoff) on a
/// failure.
///
/// `ARGV[4]` is the probe's generation. `ARGV[5..]`: the lease's member
/// id, the outcome (1 success, 0 failure, 2 neither), `success_threshold`,
/// the base open period in ms, the backoff multiplier (0: none) and the
/// backoff cap in ms.
const PROBE_DONE: &str = r#"
redis.call('ZREM', pkey, ARGV[5])
if state ~= 'half_open' or known ~= gen then return reply(0) end
local outcome, timeout_ms = ARGV[6], tonumber(ARGV[8])
if outcome == '1' then
  hs = hs + 1
  redis.call('HSET', h, 'hs', hs)
  if hs >= tonumber(ARGV[7]) then
    open_ms = 0
    move('closed')
  end
elseif outcome == '0' then
  local next_ms, factor = timeout_ms, tonumber(ARGV[9])
  if factor > 0 and open_ms > 0 then
    next_ms = math.min(math.floor(open_ms * factor), tonumber(ARGV[10]))
  end
  open_for(next_ms)
end
return reply(1)
"#;

/// The three scripts, each the prelude and its body.
pub(super) struct Scripts {
    pub(super) report: Script,
    pub(super) probe: Script,
    pub(super) probe_done: Script,
}

/// A script's source and the SHA-1 `EVALSHA` calls it by.
pub(super) struct Script {
    pub(super) source: String,
    pub(super) sha: String,
}

impl Script {
    fn new(body: &str) -> Self {
        let source = format!("{PRELUDE}{body}");
        let sha = ::redis::Script::new(&source).get_hash().to_owned();
        Script { source, sha }
    }
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            report: Script::new(REPORT),
            probe: Script::new(PROBE),
            probe_done: Script::new(PROBE_DONE),
        }
    }

    pub(super) fn all(&self) -> [&Script; 3] {
        [&self.report, &self.probe, &self.probe_done]
    }
}
