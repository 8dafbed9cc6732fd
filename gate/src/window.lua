-- hearth-gate: one sliding-window decision (hearth-guard's exact window), atomically.
-- KEYS[1]  the client's key: a list of admission times (ms), oldest first
-- ARGV[1]  the most admissions in any span of the window
-- ARGV[2]  the window in milliseconds
-- ARGV[3]  now in milliseconds, or '' for the server's clock
-- Returns 0 when admitted, else the milliseconds until it would be (at least 1).
-- Needs Redis 5 or later (scripts that read TIME and then write).
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now
-- A time given (a replayed trace) is not the server's: its keys are kept an hour.
local replay = ARGV[3] ~= ''
if replay then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
while true do
  local oldest = redis.call('LINDEX', KEYS[1], 0)
  if not oldest or now - tonumber(oldest) < window then
    break
  end
  redis.call('LPOP', KEYS[1])
end
if redis.call('LLEN', KEYS[1]) >= max then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], 0))
  return window - (now - oldest)
end
redis.call('RPUSH', KEYS[1], string.format('%d', now))
if replay then
  redis.call('PEXPIRE', KEYS[1], math.max(window, 3600000))
else
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0
