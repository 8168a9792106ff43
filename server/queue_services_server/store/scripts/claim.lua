-- claim.lua: take the next batch of due jobs of one channel, fairly across workspaces.
--
-- KEYS[1]  {p}:schedule:{ch}   zset    id -> due ms: due ids are moved out of it into lanes
-- KEYS[2]  {p}:ready:{ch}      zset    workspace -> place in the round
-- KEYS[3]  {p}:inflight:{ch}   zset    id -> lease expiry ms
-- ARGV[1]  key prefix {p}: lanes {p}:lane:{ch}:{ws}:{priority}, records {p}:job:{id}, the
--          status indexes {p}:state:{ch}:{status} and the pause flag {p}:paused:{ch} are named
--          from it, since which workspaces and jobs are touched is known only from the data
-- ARGV[2]  channel
-- ARGV[3]  now, ms
-- ARGV[4]  lookahead, ms: jobs due up to now + lookahead may be taken (the sender waits for
--          their due time), so the broker's pick-up delay does not make them late
-- ARGV[5]  batch size: most jobs to take
-- ARGV[6]  most jobs in flight on this channel (taken and not finished); 0 = no bound
-- ARGV[7]  lease, ms
-- ARGV[8]  batch id for the jobs taken
-- ARGV[9]  most due jobs to move into lanes per call
--
-- Steps, all atomic:
--   1. leases expired (a worker died with the batch) -> the job goes back on the schedule, due now
--   2. due jobs -> the lane of their workspace and priority; the workspace joins the round
--   3. if the channel has room in flight: the workspace first in the round gives up to a batch,
--      high priority first; taken jobs become PROCESSING with this batch id and a lease;
--      the workspace goes to the back of the round (or leaves it, if its lanes are empty)
--
-- Returns {taken, next_due_ms, workspace, record1, record2, ...}: taken = number of records
-- returned; next_due_ms = the earliest due time still on the schedule (-1 if none), for the
-- dispatcher to sleep until.
local prefix, channel = ARGV[1], ARGV[2]
local now, lookahead = tonumber(ARGV[3]), tonumber(ARGV[4])
local batch_size, max_in_flight = tonumber(ARGV[5]), tonumber(ARGV[6])
local lease_ms, batch_id, promote_limit = tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9])
local priorities = {'high', 'normal', 'low'}

local function job_key(id) return prefix .. ':job:' .. id end
local function move(id, from, to)
  redis.call('ZREM', prefix .. ':state:' .. channel .. ':' .. from, id)
  redis.call('ZADD', prefix .. ':state:' .. channel .. ':' .. to, now, id)
end
local function lane_key(ws, priority)
  return prefix .. ':lane:' .. channel .. ':' .. ws .. ':' .. priority
end

-- 1. reclaim expired leases
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[3], id)
  local raw = redis.call('GET', job_key(id))
  if raw then
    local job = cjson.decode(raw)
    if job.status == 'PROCESSING' then
      job.status = 'SCHEDULED'
      job.batch = nil
      job.updatedAt = now
      redis.call('SET', job_key(id), cjson.encode(job), 'KEEPTTL')
      redis.call('ZADD', KEYS[1], now, id)
      move(id, 'PROCESSING', 'SCHEDULED')
      notify(prefix, job, now)
    end
  end
end

-- 2. promote due jobs into their workspace's lanes
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now + lookahead, 'LIMIT', 0, promote_limit)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local raw = redis.call('GET', job_key(id))
  if raw then
    local job = cjson.decode(raw)
    if job.status == 'SCHEDULED' then
      redis.call('RPUSH', lane_key(job.workspaceId, job.priority), id)
      -- NX: a workspace already in the round keeps its place
      redis.call('ZADD', KEYS[2], 'NX', job.scheduledFor, job.workspaceId)
    end
  end
end

local function next_due()
  local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if head[2] then return tonumber(head[2]) end
  return -1
end

-- 3. take a batch from the workspace first in the round (unless an operator paused the channel)
if redis.call('EXISTS', prefix .. ':paused:' .. channel) == 1 then
  return {0, next_due()}
end
local room = batch_size
if max_in_flight > 0 then
  room = math.min(room, max_in_flight - redis.call('ZCARD', KEYS[3]))
end
if room <= 0 then
  return {0, next_due()}
end
while true do
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)
  if not first[1] then
    return {0, next_due()}
  end
  local ws = first[1]
  local taken = {}
  for _, priority in ipairs(priorities) do
    local lane = lane_key(ws, priority)
    while #taken < room do
      local id = redis.call('LPOP', lane)
      if not id then break end
      local raw = redis.call('GET', job_key(id))
      if raw then
        local job = cjson.decode(raw)
        -- a job cancelled while in its lane is dropped here
        if job.status == 'SCHEDULED' then
          job.status = 'PROCESSING'
          job.batch = batch_id
          job.updatedAt = now
          raw = cjson.encode(job)
          redis.call('SET', job_key(id), raw, 'KEEPTTL')
          redis.call('ZADD', KEYS[3], now + lease_ms, id)
          move(id, 'SCHEDULED', 'PROCESSING')
          notify(prefix, job, now)
          taken[#taken + 1] = raw
        end
      end
    end
  end
  local left = 0
  for _, priority in ipairs(priorities) do
    left = left + redis.call('LLEN', lane_key(ws, priority))
  end
  if left > 0 then
    -- now + 1: behind every workspace whose work became due up to now
    redis.call('ZADD', KEYS[2], now + 1, ws)
  else
    redis.call('ZREM', KEYS[2], ws)
  end
  if #taken > 0 then
    local result = {#taken, next_due(), ws}
    for _, raw in ipairs(taken) do result[#result + 1] = raw end
    return result
  end
  -- every job in this workspace's lanes had been cancelled: try the next workspace
end
