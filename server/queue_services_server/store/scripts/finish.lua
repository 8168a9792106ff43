-- finish.lua: record what happened to the jobs of a sent batch, in one call.
--
-- KEYS[1]  {p}:schedule:{ch}   zset    retried jobs go back here with their next due time
-- KEYS[2]  {p}:inflight:{ch}   zset    finished jobs leave it
-- KEYS[3]  {p}:wake:{ch}       list    a token for the dispatchers: room in flight again
-- ARGV[1]  key prefix {p} (records {p}:job:{id}, events {p}:rate-events:{ws}:{ch})
-- ARGV[2]  channel
-- ARGV[3]  now, ms
-- ARGV[4]  batch id: only jobs still PROCESSING in this batch are touched (a job whose lease
--          expired and that was taken again belongs to another batch now)
-- ARGV[5]  how many rate-limit events to keep per workspace and channel
-- then, per job, 5 values: id, outcome, detail, due_ms, rate_limited
--   outcome 'sent'  : detail = the provider's message id            -> COMPLETED
--   outcome 'retry' : detail = the error; due_ms = when to try again -> SCHEDULED
--   outcome 'failed': detail = the error                             -> FAILED
--   rate_limited '1': the provider answered "rate limited" (kept as a workspace event)
--
-- Returns the number of jobs updated.
local prefix, channel = ARGV[1], ARGV[2]
local now, batch_id, keep_events = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local updated = 0
local batch_size = (#ARGV - 5) / 5
for i = 6, #ARGV, 5 do
  local id, outcome, detail = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local due, rate_limited = tonumber(ARGV[i + 3]), ARGV[i + 4] == '1'
  local key = prefix .. ':job:' .. id
  local raw = redis.call('GET', key)
  if raw then
    local job = cjson.decode(raw)
    if job.status == 'PROCESSING' and job.batch == batch_id then
      redis.call('ZREM', KEYS[2], id)
      job.batch = nil
      job.updatedAt = now
      job.attempts = (tonumber(job.attempts) or 0) + 1
      if outcome == 'sent' then
        job.status = 'COMPLETED'
        job.sentAt = now
        job.providerMessageId = detail
      elseif outcome == 'retry' then
        job.status = 'SCHEDULED'
        job.lastError = detail
        job.scheduledFor = due
        redis.call('ZADD', KEYS[1], due, id)
      else
        job.status = 'FAILED'
        job.lastError = detail
      end
      redis.call('SET', key, cjson.encode(job), 'KEEPTTL')
      if rate_limited then
        local events = prefix .. ':rate-events:' .. job.workspaceId .. ':' .. channel
        redis.call('LPUSH', events, cjson.encode({
          timestamp = now, batchSize = batch_size, errorMessage = detail
        }))
        redis.call('LTRIM', events, 0, keep_events - 1)
      end
      updated = updated + 1
    end
  end
end
redis.call('LPUSH', KEYS[3], '1')
redis.call('LTRIM', KEYS[3], 0, 0)
return updated
