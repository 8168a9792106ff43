-- finish.lua: record what happened to some jobs of a batch being sent, in one call. A sender
-- records as it goes, a few outcomes at a time, so a worker that dies resends only what was at
-- the provider; the batch's last call says so (its duration then counts in the metrics).
--
-- KEYS[1]  {p}:inflight:{ch}     zset    finished jobs leave it
-- KEYS[2]  {p}:wake:{ch}         list    a token for the dispatchers: room in flight again
-- KEYS[3]  {p}:metrics:{ch}      hash    channel counters (HINCRBY; see store/metrics.py)
-- KEYS[4]  {p}:metrics:{ch}:workspaces    hash  "<ws>|total", "<ws>|success", ... counters
-- KEYS[5]  {p}:metrics:{ch}:rate-limits   hash  "<ws>|count", "<ws>|last" (ms)
-- KEYS[6]  {p}:series:{ch}:{bucket}       hash  sent / failed / rateLimited of one time bucket
-- KEYS[7]  {p}:owner:{ch}        hash    job -> batch: finished jobs leave it
-- KEYS[8]  {p}:inflight-ws:{ch}  hash    workspace -> jobs in flight
-- KEYS[9]  {p}:sending:{ch}      set     jobs given their send slot: finished jobs leave it
-- ARGV[1]  key prefix {p} (records {p}:job:{id}, events {p}:rate-events:{ws}:{ch}, status
--          indexes {p}:state:{ch}:{status} and {p}:scheduled-count:{ch}; a retried job goes back
--          on its workspace's schedule, enqueue in _common.lua)
-- ARGV[2]  channel
-- ARGV[3]  '1' if this is the batch's last call
-- ARGV[4]  batch id: only jobs still PROCESSING in this batch are touched (a job whose lease
--          expired and that was taken again belongs to another batch now)
-- ARGV[5]  how many rate-limit events to keep per workspace and channel
-- ARGV[6]  the batch's duration, ms (counted with the last call)
-- ARGV[7]  the histogram field its duration falls in (e.g. "le_0.5")
-- ARGV[8]  how many of these sends waited for their slot
-- ARGV[9]  seconds to keep the time-series bucket
-- ARGV[10] the batch's size (jobs), kept with a rate-limit event
-- ARGV[11] seconds a workspace's list of rate-limit events is kept after its last event
-- then, per job, 5 values: id, outcome, detail, delay_ms, rate_limited
--   outcome 'sent'  : detail = the provider's message id                  -> COMPLETED
--   outcome 'retry' : detail = the error; delay_ms = how long from now until
--                     it is tried again (its workspace's schedule)        -> SCHEDULED
--   outcome 'failed': detail = the error                                  -> FAILED
--   rate_limited '1': the provider answered "rate limited" (kept as a workspace event)
--
-- Returns the number of jobs updated. Times are Redis's clock.
local prefix, channel = ARGV[1], ARGV[2]
local last_call, batch_id, keep_events = ARGV[3] == '1', ARGV[4], tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local first_job = 12
local updated = 0
local batch_size = tonumber(ARGV[10])
local counts = {success = 0, failed = 0, retried = 0, rateLimited = 0}
local per_workspace = {}
local function count(ws, name)
  per_workspace[ws] = per_workspace[ws] or {total = 0, success = 0, failed = 0, rateLimited = 0}
  per_workspace[ws][name] = per_workspace[ws][name] + 1
end
-- One command per kind of change for all the jobs of the call (a command costs a few us): the
-- owners and records read at once, the indexes and records written at once.
local ids, keys = {}, {}
for i = first_job, #ARGV, 5 do
  ids[#ids + 1] = ARGV[i]
  keys[#keys + 1] = prefix .. ':job:' .. ARGV[i]
end
local owners = #ids > 0 and redis.call('HMGET', KEYS[7], unpack(ids)) or {}
local raws = #ids > 0 and redis.call('MGET', unpack(keys)) or {}
local done, writes, entered, in_flight_drop, backlog_drop = {}, {}, {}, {}, {}
for n, id in ipairs(ids) do
  local i = first_job + 5 * (n - 1)
  local outcome, detail = ARGV[i + 1], ARGV[i + 2]
  local due, rate_limited = now + tonumber(ARGV[i + 3]), ARGV[i + 4] == '1'
  local raw = owners[n] == batch_id and raws[n]
  if raw then
    local job, body = decode_job(raw, id)
    if job.status == 'PROCESSING' and job.batch == batch_id then
      done[#done + 1] = id
      in_flight_drop[job.workspaceId] = (in_flight_drop[job.workspaceId] or 0) + 1
      job.batch = nil
      job.updatedAt = now
      job.attempts = (tonumber(job.attempts) or 0) + 1
      if outcome == 'sent' then
        job.status = 'COMPLETED'
        backlog_drop[job.workspaceId] = (backlog_drop[job.workspaceId] or 0) + 1
        job.sentAt = now
        job.providerMessageId = detail
        counts.success = counts.success + 1
        count(job.workspaceId, 'success')
        count(job.workspaceId, 'total')
      elseif outcome == 'retry' then
        job.status = 'SCHEDULED'
        job.lastError = detail
        job.scheduledFor = due
        enqueue(prefix, channel, job.workspaceId, job.priority, id, due)
        counts.retried = counts.retried + 1
      else
        job.status = 'FAILED'
        backlog_drop[job.workspaceId] = (backlog_drop[job.workspaceId] or 0) + 1
        job.lastError = detail
        counts.failed = counts.failed + 1
        count(job.workspaceId, 'failed')
        count(job.workspaceId, 'total')
      end
      writes[#writes + 1] = keys[n]
      writes[#writes + 1] = encode_job(job, body)
      entered[job.status] = entered[job.status] or {}
      entered[job.status][#entered[job.status] + 1] = id
      notify(prefix, job, now)
      if rate_limited then
        counts.rateLimited = counts.rateLimited + 1
        count(job.workspaceId, 'rateLimited')
        redis.call('HINCRBY', KEYS[5], job.workspaceId .. '|count', 1)
        redis.call('HSET', KEYS[5], job.workspaceId .. '|last', now)
        local events = prefix .. ':rate-events:' .. job.workspaceId .. ':' .. channel
        redis.call('LPUSH', events, cjson.encode({
          timestamp = now, batchSize = batch_size, errorMessage = detail
        }))
        redis.call('LTRIM', events, 0, keep_events - 1)
        redis.call('EXPIRE', events, tonumber(ARGV[11]))
      end
      updated = updated + 1
    end
  end
end
if #done > 0 then
  redis.call('ZREM', KEYS[1], unpack(done))
  redis.call('HDEL', KEYS[7], unpack(done))
  redis.call('SREM', KEYS[9], unpack(done))
  leave_status(prefix, channel, 'PROCESSING', done)
  for status, ids in pairs(entered) do enter_status(prefix, channel, status, ids, now) end
  -- records carry no TTL (retention deletes them): MSET keeps what SET KEEPTTL would
  redis.call('MSET', unpack(writes))
  for ws, n in pairs(in_flight_drop) do
    if redis.call('HINCRBY', KEYS[8], ws, -n) <= 0 then redis.call('HDEL', KEYS[8], ws) end
  end
  for ws, n in pairs(backlog_drop) do backlog(prefix, ws, -n) end
end
-- metrics: one set of increments per call, the batch itself counted with its last call
if updated > 0 or last_call then
  local finished = counts.success + counts.failed
  redis.call('HINCRBY', KEYS[3], 'total', finished)
  redis.call('HINCRBY', KEYS[3], 'success', counts.success)
  redis.call('HINCRBY', KEYS[3], 'failed', counts.failed)
  redis.call('HINCRBY', KEYS[3], 'retried', counts.retried)
  redis.call('HINCRBY', KEYS[3], 'rateLimited', counts.rateLimited)
  if last_call then
    redis.call('HINCRBY', KEYS[3], 'batches', 1)
    redis.call('HINCRBY', KEYS[3], 'batchMs', tonumber(ARGV[6]))
    redis.call('HINCRBY', KEYS[3], ARGV[7], 1)
  end
  redis.call('HINCRBY', KEYS[3], 'limiterWaits', tonumber(ARGV[8]))
  redis.call('HSET', KEYS[3], 'lastProcessed', now)
  for ws, c in pairs(per_workspace) do
    for name, value in pairs(c) do
      if value > 0 then redis.call('HINCRBY', KEYS[4], ws .. '|' .. name, value) end
    end
  end
  redis.call('HINCRBY', KEYS[6], 'sent', counts.success)
  redis.call('HINCRBY', KEYS[6], 'failed', counts.failed)
  redis.call('HINCRBY', KEYS[6], 'rateLimited', counts.rateLimited)
  redis.call('EXPIRE', KEYS[6], tonumber(ARGV[9]))
end
redis.call('LPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], 0, 0)
return updated
