-- hearth-gate: one GCRA decision (hearth-guard's token bucket), atomically.
-- KEYS[1]  the client's key
-- ARGV[1]  interval in microseconds (time between requests on average)
-- ARGV[2]  tolerance in microseconds (interval * (burst - 1))
-- ARGV[3]  now in microseconds, or '' for the server's clock (one clock for every gate)
-- Returns 0 when admitted, else the microseconds until it would be (at least 1).
-- Needs Redis 5 or later (scripts that read TIME and then write).
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local now
-- A time given (a replayed trace) is not the server's: its keys are kept an hour.
local replay = ARGV[3] ~= ''
if replay then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local ahead = tat - now
if ahead > tolerance then
  return ahead - tolerance
end
local next_tat = tat + interval
-- Kept until it no longer differs from a client never seen.
local ttl_ms = math.floor((next_tat - now) / 1000) + 1
if replay then
  ttl_ms = math.max(ttl_ms, 3600000)
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', ttl_ms)
return 0
