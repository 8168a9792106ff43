-- claim.lua: take the next batch of due jobs of one channel, fairly across workspaces.
--
-- KEYS[1]  {p}:schedule:{ch}     zset    id -> due ms: due ids are moved out of it into lanes
-- KEYS[2]  {p}:ready:{ch}        zset    workspace -> place in the round
-- KEYS[3]  {p}:inflight:{ch}     zset    id -> lease expiry ms
-- KEYS[4]  {p}:owner:{ch}        hash    id -> the batch holding it
-- KEYS[5]  {p}:inflight-ws:{ch}  hash    workspace -> its jobs in flight
-- KEYS[6]  {p}:tiers:{ch}        hash    workspace -> its own limit, sends per second
-- ARGV[1]  key prefix {p}: lanes {p}:lane:{ch}:{ws}:{priority}, records {p}:job:{id}, the
--          status indexes {p}:state:{ch}:{status}, the pause flag {p}:paused:{ch} and the
--          metrics {p}:metrics:{ch}[:workspaces] are named from it, since which workspaces and
--          jobs are touched is known only from the data
-- ARGV[2]  channel
-- ARGV[3]  lookahead, ms: jobs due up to now + lookahead may be taken (the sender gives each a
--          slot no sooner than its due time), so the broker's pick-up delay does not make them
--          late
-- ARGV[4]  batch size: most jobs to take
-- ARGV[5]  most jobs in flight on this channel (taken and not finished); 0 = no bound
-- ARGV[6]  lease, ms
-- ARGV[7]  batch id for the jobs taken
-- ARGV[8]  most due jobs to move into lanes per call
-- ARGV[9]  ms of sends a workspace on a tier may hold in flight: its claim takes no more than
--          tier x this / 1000 jobs (at least 1), so a slow tier never holds the channel's room
-- ARGV[10] how many times a job's lease may expire before it ends FAILED
-- ARGV[11] the fewest jobs worth a claim: with less room free than this, nothing is taken (a
--          claim of a job or two would cost a broker message and a sender each)
--
-- Steps, all atomic, on Redis's clock:
--   1. leases expired (a worker died with the batch) -> the job goes back on the schedule, due
--      now; after ARGV[10] expiries it ends FAILED instead (a job that kills its worker)
--   2. due jobs -> the lane of their workspace and priority; the workspace joins the round
--   3. if the channel has room in flight: the workspace first in the round gives up to a batch,
--      high priority first (less if its tier allows less); taken jobs become PROCESSING with
--      this batch id and a lease; the workspace goes to the back of the round (or leaves it, if
--      its lanes are empty). A workspace whose tier has its fill in flight is passed over.
--
-- Returns {taken, next_due_ms, now, workspace, record1, record2, ...}: taken = number of records
-- returned; next_due_ms = when the next job is due (now, while jobs wait in lanes; else the
-- earliest due time on the schedule; -1 if none), for the dispatcher to sleep until; now =
-- Redis's clock (ms).
local prefix, channel = ARGV[1], ARGV[2]
local lookahead, batch_size = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_in_flight, lease_ms = tonumber(ARGV[5]), tonumber(ARGV[6])
local batch_id, promote_limit = ARGV[7], tonumber(ARGV[8])
local tier_window_ms, max_expiries = tonumber(ARGV[9]), tonumber(ARGV[10])
local least = tonumber(ARGV[11])
local priorities = {'high', 'normal', 'low'}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function job_key(id) return prefix .. ':job:' .. id end
local function move(id, from, to)
  redis.call('ZREM', prefix .. ':state:' .. channel .. ':' .. from, id)
  redis.call('ZADD', prefix .. ':state:' .. channel .. ':' .. to, now, id)
end
local function lane_key(ws, priority)
  return prefix .. ':lane:' .. channel .. ':' .. ws .. ':' .. priority
end
local function in_flight_of(ws, delta)
  local count = redis.call('HINCRBY', KEYS[5], ws, delta)
  if count <= 0 then redis.call('HDEL', KEYS[5], ws) end
end

-- 1. reclaim expired leases
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  local raw = redis.call('GET', job_key(id))
  if raw then
    local job = cjson.decode(raw)
    if job.status == 'PROCESSING' then
      in_flight_of(job.workspaceId, -1)
      job.batch = nil
      job.updatedAt = now
      job.leaseExpiries = (tonumber(job.leaseExpiries) or 0) + 1
      if job.leaseExpiries >= max_expiries then
        job.status = 'FAILED'
        job.lastError = 'its lease expired ' .. job.leaseExpiries .. ' times: the worker '
          .. 'sending it stopped (was killed or lost Redis) each time'
        backlog(prefix, job.workspaceId, -1)
        move(id, 'PROCESSING', 'FAILED')
        local metrics = prefix .. ':metrics:' .. channel
        redis.call('HINCRBY', metrics, 'total', 1)
        redis.call('HINCRBY', metrics, 'failed', 1)
        redis.call('HINCRBY', metrics .. ':workspaces', job.workspaceId .. '|total', 1)
        redis.call('HINCRBY', metrics .. ':workspaces', job.workspaceId .. '|failed', 1)
      else
        job.status = 'SCHEDULED'
        redis.call('ZADD', KEYS[1], now, id)
        move(id, 'PROCESSING', 'SCHEDULED')
      end
      redis.call('SET', job_key(id), cjson.encode(job), 'KEEPTTL')
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
  -- work waiting in lanes (for room, for its tier) is due now
  if redis.call('ZCARD', KEYS[2]) > 0 then return now end
  local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if head[2] then return tonumber(head[2]) end
  return -1
end
local function nothing()
  return {0, next_due(), now}
end

-- 3. take a batch from the workspace first in the round (unless an operator paused the channel)
if redis.call('EXISTS', prefix .. ':paused:' .. channel) == 1 then
  return nothing()
end
local room = batch_size
if max_in_flight > 0 then
  room = math.min(room, max_in_flight - redis.call('ZCARD', KEYS[3]))
end
if room <= 0 or room < least then
  return nothing()
end
-- Workspaces looked at per call: those passed over (a full tier, lanes of cancelled jobs only)
-- go to the back of the round, and the call stays bounded.
local seen = {}
for _ = 1, 32 do
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)
  if not first[1] or seen[first[1]] then
    return nothing()
  end
  local ws = first[1]
  seen[ws] = true
  local want = room
  local tier = tonumber(redis.call('HGET', KEYS[6], ws) or '0')
  if tier > 0 then
    local fill = math.max(1, math.ceil(tier * tier_window_ms / 1000))
    want = math.min(want, fill - tonumber(redis.call('HGET', KEYS[5], ws) or '0'))
  end
  local taken = {}
  for _, priority in ipairs(priorities) do
    local lane = lane_key(ws, priority)
    while #taken < want do
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
          redis.call('HSET', KEYS[4], id, batch_id)
          move(id, 'SCHEDULED', 'PROCESSING')
          notify(prefix, job, now)
          taken[#taken + 1] = raw
        end
      end
    end
  end
  if #taken > 0 then in_flight_of(ws, #taken) end
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
    local result = {#taken, next_due(), now, ws}
    for _, raw in ipairs(taken) do result[#result + 1] = raw end
    return result
  end
  -- nothing taken from this workspace (its tier is full, or every job in its lanes had been
  -- cancelled): try the next one
end
return nothing()
