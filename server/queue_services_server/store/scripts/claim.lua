-- claim.lua: take the next batch of due jobs of one channel, fairly across workspaces.
--
-- KEYS[1]  {p}:inflight:{ch}        zset    id -> lease expiry ms
-- KEYS[2]  {p}:owner:{ch}           hash    id -> the batch holding it
-- KEYS[3]  {p}:inflight-ws:{ch}     hash    workspace -> its jobs in flight
-- KEYS[4]  {p}:tiers:{ch}           hash    workspace -> its own limit, sends per second
-- KEYS[5]  {p}:deficit:{ch}         hash    "<ws>|<priority>" -> jobs left in its turn
-- KEYS[6]  {p}:priority-run:{ch}    hash    priority -> claims in a row that passed over its
--                                           due work
-- KEYS[7..9]    {p}:due:{ch}:{high,normal,low}    zset  workspace -> earliest due (not yet due)
-- KEYS[10..12]  {p}:round:{ch}:{high,normal,low}  zset  workspace -> place in the round
-- KEYS[13] {p}:sending:{ch}         set     jobs given their send slot: a reclaimed one leaves it
-- ARGV[1]  key prefix {p}: the workspace schedules {p}:schedule:{ch}:{ws}:{priority}, records
--          {p}:job:{id}, the status indexes {p}:state:{ch}:{status} and the count
--          {p}:scheduled-count:{ch} (leave_status / enter_status), the pause flag
--          {p}:paused:{ch} and the metrics {p}:metrics:{ch}[:workspaces] are named from it,
--          since which workspaces and jobs are touched is known only from the data
-- ARGV[2]  channel
-- ARGV[3]  lookahead, ms: jobs due up to now + lookahead may be taken (the sender gives each a
--          slot no sooner than its due time), so the broker's pick-up delay does not make them
--          late
-- ARGV[4]  batch size: most jobs to take, and a workspace's turn (the round's quantum)
-- ARGV[5]  most jobs in flight on this channel (taken and not finished); 0 = no bound
-- ARGV[6]  lease, ms
-- ARGV[7]  batch id for the jobs taken
-- ARGV[8]  most workspaces moved from the due index into the round per priority per call
-- ARGV[9]  ms of sends a workspace on a tier may hold in flight: its claim takes no more than
--          tier x this / 1000 jobs (at least 1), so a slow tier never holds the channel's room
-- ARGV[10] how many times a job's lease may expire before it ends FAILED
-- ARGV[11] the fewest jobs worth a claim: with less room free than this, nothing is taken (a
--          claim of a job or two would cost a broker message and a sender each)
-- ARGV[12] priority run: after this many claims in a row passed over a priority's due work,
--          the next claim serves it
--
-- Steps, all atomic, on Redis's clock:
--   1. leases expired (a worker died with the batch) -> the job goes back on its workspace's
--      schedule, due now; after ARGV[10] expiries it ends FAILED instead (a job that kills its
--      worker)
--   2. workspaces whose earliest job is due (by now + lookahead) move from the due index into
--      the round of their priority: O(log W) each, whatever their backlog
--   3. priority: the highest one whose round is not empty, unless ARGV[12] claims in a row
--      have passed over a lower one's due work (it is starved): then the highest starved one.
--      So high goes before normal and low of every workspace, and each lower priority with
--      due work still gets at least one claim in ARGV[12] + 1 or so (with all three busy and
--      ARGV[12] = 4: about 60% high, 25% normal, 15% low)
--   4. deficit round robin in that round: the workspace first in it gives its due jobs, up to
--      what is left of its turn (the batch size), the room in flight and its tier's fill. A
--      turn cut short by the room keeps the workspace first, with the rest of its turn; a turn
--      used up sends it to the back; a workspace with nothing more due leaves the round for
--      the due index (or for good, if nothing waits). A workspace whose tier has its fill in
--      flight is passed over (its turn ends). Taken jobs become PROCESSING with this batch id
--      and a lease.
--
-- Returns {taken, next_due_ms, now, workspace, priority, id1, id2, ...}: taken = number of job ids
-- returned (the sender reads the records when it begins the batch, so none is encoded twice);
-- next_due_ms = when the next job is due (now, while a round holds workspaces; else
-- the earliest due time in the due indexes; -1 if none), for the dispatcher to sleep until;
-- now = Redis's clock (ms).
local prefix, channel = ARGV[1], ARGV[2]
local lookahead, quantum = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_in_flight, lease_ms = tonumber(ARGV[5]), tonumber(ARGV[6])
local batch_id, promote_limit = ARGV[7], tonumber(ARGV[8])
local tier_window_ms, max_expiries = tonumber(ARGV[9]), tonumber(ARGV[10])
local least, priority_run = tonumber(ARGV[11]), tonumber(ARGV[12])
local priorities = {'high', 'normal', 'low'}
local due_index = {high = KEYS[7], normal = KEYS[8], low = KEYS[9]}
local round = {high = KEYS[10], normal = KEYS[11], low = KEYS[12]}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local horizon = now + lookahead

local function job_key(id) return prefix .. ':job:' .. id end
local function schedule_key(ws, priority)
  return prefix .. ':schedule:' .. channel .. ':' .. ws .. ':' .. priority
end
local function move(id, from, to)
  leave_status(prefix, channel, from, {id})
  enter_status(prefix, channel, to, {id}, now)
end
local function in_flight_of(ws, delta)
  local count = redis.call('HINCRBY', KEYS[3], ws, delta)
  if count <= 0 then redis.call('HDEL', KEYS[3], ws) end
end

-- 1. reclaim expired leases
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('SREM', KEYS[13], id)
  local raw = redis.call('GET', job_key(id))
  if raw then
    local job, body = decode_job(raw, id)
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
        enqueue(prefix, channel, job.workspaceId, job.priority, id, now)
        move(id, 'PROCESSING', 'SCHEDULED')
      end
      redis.call('SET', job_key(id), encode_job(job, body), 'KEEPTTL')
      notify(prefix, job, now)
    end
  end
end

-- 2. workspaces whose work is due join the round of its priority
for _, priority in ipairs(priorities) do
  local ready = redis.call(
    'ZRANGEBYSCORE', due_index[priority], '-inf', horizon, 'WITHSCORES', 'LIMIT', 0, promote_limit
  )
  for i = 1, #ready, 2 do
    redis.call('ZREM', due_index[priority], ready[i])
    -- its place: when its work became due (NX: one already in the round keeps its place)
    redis.call('ZADD', round[priority], 'NX', ready[i + 1], ready[i])
  end
end

local function next_due()
  local earliest = -1
  for _, priority in ipairs(priorities) do
    -- a workspace in a round (waiting for room, for its tier) has work due now
    if redis.call('ZCARD', round[priority]) > 0 then return now end
    local head = redis.call('ZRANGE', due_index[priority], 0, 0, 'WITHSCORES')
    if head[2] and (earliest < 0 or tonumber(head[2]) < earliest) then
      earliest = tonumber(head[2])
    end
  end
  return earliest
end
local function nothing()
  return {0, next_due(), now}
end

if redis.call('EXISTS', prefix .. ':paused:' .. channel) == 1 then
  return nothing()
end
local room = quantum
if max_in_flight > 0 then
  room = math.min(room, max_in_flight - redis.call('ZCARD', KEYS[1]))
end
if room <= 0 or room < least then
  return nothing()
end

-- 3. which priority: the highest with due work, unless a lower one is starved
local waiting = {}
for _, priority in ipairs(priorities) do
  if redis.call('ZCARD', round[priority]) > 0 then waiting[#waiting + 1] = priority end
end
if #waiting == 0 then
  return nothing()
end
for i = 2, #waiting do
  if tonumber(redis.call('HGET', KEYS[6], waiting[i]) or '0') >= priority_run then
    -- the highest starved one first, then the others in order
    local starved = table.remove(waiting, i)
    table.insert(waiting, 1, starved)
    break
  end
end

-- 4. a turn of the workspace first in the chosen round
local function serve(priority)
  local seen = {}
  -- workspaces looked at per call: those passed over (a full tier, a stale due score) go to
  -- the back of the round or back to the due index, and the call stays bounded
  for _ = 1, 32 do
    local first = redis.call('ZRANGE', round[priority], 0, 0)
    local ws = first[1]
    if not ws or seen[ws] then return nil end
    seen[ws] = true
    local field = ws .. '|' .. priority
    local turn = tonumber(redis.call('HGET', KEYS[5], field) or quantum)
    local want = math.min(room, turn)
    local tier = tonumber(redis.call('HGET', KEYS[4], ws) or '0')
    if tier > 0 then
      local fill = math.max(1, math.ceil(tier * tier_window_ms / 1000))
      want = math.min(want, fill - tonumber(redis.call('HGET', KEYS[3], ws) or '0'))
    end
    local schedule = schedule_key(ws, priority)
    local taken = {}
    if want > 0 then
      local ids = redis.call('ZRANGEBYSCORE', schedule, '-inf', horizon, 'LIMIT', 0, want)
      if #ids > 0 then
        -- one command per kind of change for the whole batch (a command costs a few us)
        redis.call('ZREM', schedule, unpack(ids))
        local keys = {}
        for i, id in ipairs(ids) do keys[i] = job_key(id) end
        local raws = redis.call('MGET', unpack(keys))
        local writes, leases, owners = {}, {}, {}
        for i, id in ipairs(ids) do
          local raw = raws[i]
          if raw then
            local job, body = decode_job(raw, id)
            if job.status == 'SCHEDULED' then
              job.status = 'PROCESSING'
              job.batch = batch_id
              job.updatedAt = now
              raw = encode_job(job, body)
              writes[#writes + 1] = keys[i]
              writes[#writes + 1] = raw
              leases[#leases + 1] = now + lease_ms
              leases[#leases + 1] = id
              owners[#owners + 1] = id
              owners[#owners + 1] = batch_id
              notify(prefix, job, now)
              taken[#taken + 1] = id
            end
          end
        end
        if #taken > 0 then
          -- records carry no TTL (retention deletes them): MSET keeps what SET KEEPTTL would
          redis.call('MSET', unpack(writes))
          redis.call('ZADD', KEYS[1], unpack(leases))
          redis.call('HSET', KEYS[2], unpack(owners))
          leave_status(prefix, channel, 'SCHEDULED', taken)
          enter_status(prefix, channel, 'PROCESSING', taken, now)
        end
      end
      turn = turn - #ids
    end
    -- where the workspace goes now
    local head = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
    if not head[1] or tonumber(head[2]) > horizon then
      redis.call('ZREM', round[priority], ws)
      redis.call('HDEL', KEYS[5], field)
      if head[1] then redis.call('ZADD', due_index[priority], head[2], ws) end
    elseif #taken > 0 and turn > 0 and want >= room then
      -- cut short by the room in flight: it stays first, with the rest of its turn
      redis.call('HSET', KEYS[5], field, turn)
    else
      -- turn used up, or passed over: to the back, behind every workspace due up to now
      redis.call('HDEL', KEYS[5], field)
      redis.call('ZADD', round[priority], now + 1, ws)
    end
    if #taken > 0 then
      in_flight_of(ws, #taken)
      return ws, taken
    end
  end
  return nil
end

for _, priority in ipairs(waiting) do
  local ws, taken = serve(priority)
  if ws then
    -- the others with due work were passed over once more; one with none starts afresh
    local passed = {}
    for _, other in ipairs(waiting) do
      if other ~= priority then passed[other] = true end
    end
    for _, other in ipairs(priorities) do
      if passed[other] then
        redis.call('HINCRBY', KEYS[6], other, 1)
      else
        redis.call('HDEL', KEYS[6], other)
      end
    end
    local result = {#taken, next_due(), now, ws, priority}
    for _, id in ipairs(taken) do result[#result + 1] = id end
    return result
  end
end
return nothing()
