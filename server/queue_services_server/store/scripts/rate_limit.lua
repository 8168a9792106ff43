-- rate_limit.lua: take a send slot from a sliding-window log (or say how long to wait), and
-- later move the slot to the time the send completed.
--
-- KEYS[1]  {p}:rate:{ch}           zset    the channel's sends (member = token, score = ms)
-- KEYS[2]  {p}:rate-hold:{ch}      string  ms until which the channel is held (after a 429)
-- KEYS[3]  {p}:rate:{ch}:{ws}      zset    optional: the workspace's own log (tier limit)
-- ARGV[1]  'take' or 'done'
-- ARGV[2]  a token unique to this send
-- with 'take':
--   ARGV[3]  channel limit: most sends in any window
--   ARGV[4]  window, ms
--   ARGV[5]  workspace limit (only with KEYS[3])
--   Returns {granted, wait_ms}: 1 if the send may go now (its slot is logged at now), else 0
--   and the ms to wait before asking again.
-- with 'done': the slot's time becomes now (the send has completed); returns 1.
--
-- Why a slot moves to its completion time: the provider sees a send somewhere between the grant
-- and the completion. Logging the later of the two makes "at most `limit` in any window" hold at
-- the provider even when one request is slow (a new connection, a pause), at the cost of the
-- request's own latency: a slot is held for window + latency.
--
-- Time is Redis's own clock (TIME), the one clock every worker on every host shares.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if ARGV[1] == 'done' then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[2])
  if KEYS[3] then redis.call('ZADD', KEYS[3], 'XX', now, ARGV[2]) end
  return 1
end

local window = tonumber(ARGV[4])
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

local wait = wait_for(KEYS[1], tonumber(ARGV[3]))
if KEYS[3] then
  wait = math.max(wait, wait_for(KEYS[3], tonumber(ARGV[5])))
end
if wait > 0 then
  return {0, wait}
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], window * 2 + 60000)
if KEYS[3] then
  redis.call('ZADD', KEYS[3], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[3], window * 2 + 60000)
end
return {1, 0}
