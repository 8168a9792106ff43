-- requeue.lua: an operator's "retry this failed job" or "send this scheduled job now".
--
-- KEYS[1]  {p}:job:{id}            string  the record
-- KEYS[2]  {p}:schedule:{ch}:{ws}:{priority}  zset  its workspace's schedule: (re)placed there,
--                                   due now (enqueue in _common.lua)
-- KEYS[3]  {p}:state:{ch}:FAILED   zset    a retried job leaves it
-- KEYS[4]  {p}:scheduled-count:{ch} string ... and counts among the SCHEDULED again
-- KEYS[5]  {p}:wake:{ch}           list    wakes a dispatcher
-- ARGV[1]  job id
-- ARGV[2]  now, ms
-- ARGV[3]  'retry' (FAILED -> SCHEDULED) or 'now' (a SCHEDULED job not yet due -> due now)
-- ARGV[4]  key prefix {p} (a retried job counts in {p}:backlog again; the due index and round)
--
-- Returns {ok, record}: ok = 1 when done, 0 when the job is not in the status the action needs
-- (record is then as it stands), -1 when there is no such job.
local raw = redis.call('GET', KEYS[1])
if not raw then return {-1, false} end
local job, body = decode_job(raw, ARGV[1])
local now = tonumber(ARGV[2])
if ARGV[3] == 'retry' then
  if job.status ~= 'FAILED' then return {0, raw} end
  job.status = 'SCHEDULED'
  backlog(ARGV[4], job.workspaceId, 1)
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('INCR', KEYS[4])
else
  if job.status ~= 'SCHEDULED' or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
    return {0, raw}
  end
end
job.scheduledFor = now
job.updatedAt = now
enqueue(ARGV[4], job.channel, job.workspaceId, job.priority, ARGV[1], now)
raw = encode_job(job, body)
redis.call('SET', KEYS[1], raw, 'KEEPTTL')
redis.call('LPUSH', KEYS[5], '1')
redis.call('LTRIM', KEYS[5], 0, 0)
return {1, raw}
