-- rate_limit.lua: take one send slot from a sliding-window log, or say how long to wait.
--
-- KEYS[1]  {p}:rate:{ch}           zset    send times of the channel (member = token, score = ms)
-- KEYS[2]  {p}:rate-hold:{ch}      string  ms until which the channel is held (after a 429)
-- KEYS[3]  {p}:rate:{ch}:{ws}      zset    optional: the workspace's own log (tier limit)
-- ARGV[1]  channel limit: most sends in any window
-- ARGV[2]  window, ms
-- ARGV[3]  a token unique to this send
-- ARGV[4]  workspace limit (only with KEYS[3])
--
-- Returns {granted, wait_ms}: granted = 1 if the send may go now (its time is logged), else 0
-- and the ms after which a slot frees.
--
-- Time is Redis's own clock (TIME), the one clock every worker on every host shares. A log,
-- unlike a fixed window, never lets more than `limit` sends fall in ANY window of `window` ms;
-- fixed windows let up to twice the limit through across a window boundary.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])

local hold = tonumber(redis.call('GET', KEYS[2]) or '0')
if hold > now then
  return {0, hold - now}
end

local function wait_for(log, limit)
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
  if redis.call('ZCARD', log) < limit then return 0 end
  local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now + 1
end

local wait = wait_for(KEYS[1], tonumber(ARGV[1]))
if KEYS[3] then
  wait = math.max(wait, wait_for(KEYS[3], tonumber(ARGV[4])))
end
if wait > 0 then
  return {0, wait}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window * 2)
if KEYS[3] then
  redis.call('ZADD', KEYS[3], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[3], window * 2)
end
return {1, 0}
