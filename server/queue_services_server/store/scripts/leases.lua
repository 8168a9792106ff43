-- leases.lua: a sender starting a batch, and renewing the leases of the jobs it still holds.
--
-- KEYS[1]  {p}:owner:{ch}        hash    job -> batch holding it
-- KEYS[2]  {p}:inflight:{ch}     zset    job -> lease expiry (ms)
-- KEYS[3]  {p}:batch-run:{batch} string  the runner of the batch
-- ARGV[1]  'begin' or 'renew'
-- ARGV[2]  batch id
-- ARGV[3]  runner: unique to this sender
-- ARGV[4]  lease, ms
-- ARGV[5]  key prefix {p}: the records {p}:job:{id} that 'begin' returns
-- then the batch's job ids
--
-- 'begin': the runner takes the batch. If another runner has it (the broker delivered the
-- batch's message twice), returns {0}. Else renews the leases of the jobs still the batch's and
-- returns {1, now, lost count, lost ids..., records of the jobs still the batch's...}: now is
-- Redis's clock (ms); lost jobs are no longer the batch's (their lease expired and they went
-- back to the schedule).
-- 'renew': the same for the runner holding the batch, without the records; returns {0} if it
-- no longer holds it (the batch's lease ran out).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode, batch, runner, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local holder = redis.call('GET', KEYS[3])
if (mode == 'begin' and holder and holder ~= runner) or (mode == 'renew' and holder ~= runner) then
  return {0}
end
redis.call('SET', KEYS[3], runner, 'PX', lease)
local lost, records, held, renewed = {}, {}, {}, {}
local ids = {}
for i = 6, #ARGV do ids[#ids + 1] = ARGV[i] end
-- one command per kind of change for the whole batch (a command costs a few us)
local owners = #ids > 0 and redis.call('HMGET', KEYS[1], unpack(ids)) or {}
for n, id in ipairs(ids) do
  if owners[n] == batch then
    held[#held + 1] = id
    renewed[#renewed + 1] = now + lease
    renewed[#renewed + 1] = id
  else
    lost[#lost + 1] = id
  end
end
if #held > 0 then
  redis.call('ZADD', KEYS[2], 'XX', unpack(renewed))
  if mode == 'begin' then
    local keys = {}
    for n, id in ipairs(held) do keys[n] = ARGV[5] .. ':job:' .. id end
    records = redis.call('MGET', unpack(keys))
  end
end
local result = {1, now, #lost}
for _, id in ipairs(lost) do result[#result + 1] = id end
for _, raw in ipairs(records) do result[#result + 1] = raw end
return result
