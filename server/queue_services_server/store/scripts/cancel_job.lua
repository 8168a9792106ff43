-- cancel_job.lua: cancel a job that has not been taken for sending.
--
-- KEYS[1]  {p}:job:{id}             string  the job record (status set to CANCELLED here)
-- ARGV[1]  job id
-- ARGV[2]  now, ms since the epoch
-- ARGV[3]  key prefix {p}: the job leaves its workspace's schedule (dequeue in _common.lua),
--          its status index moves, its workspace's backlog count drops
--
-- Returns {outcome, record}: outcome 0 = no such job (record absent), 1 = cancelled now,
-- 2 = was already cancelled, 3 = not cancellable (taken, sent or failed); record is the record
-- as it stands after the call.
--
-- Only a SCHEDULED job is cancellable: a worker takes a job by switching it to PROCESSING in a
-- script of its own, and Redis runs scripts one at a time, so cancel and take cannot both win.
local raw = redis.call('GET', KEYS[1])
if not raw then
  return {0, false}
end
local job = cjson.decode(raw)
if job.status == 'CANCELLED' then
  return {2, raw}
end
if job.status ~= 'SCHEDULED' then
  return {3, raw}
end
job.status = 'CANCELLED'
job.updatedAt = tonumber(ARGV[2])
dequeue(ARGV[3], job.channel, job.workspaceId, job.priority, ARGV[1])
redis.call('ZREM', ARGV[3] .. ':state:' .. job.channel .. ':SCHEDULED', ARGV[1])
redis.call('ZADD', ARGV[3] .. ':state:' .. job.channel .. ':CANCELLED', job.updatedAt, ARGV[1])
raw = cjson.encode(job)
redis.call('SET', KEYS[1], raw, 'KEEPTTL')
backlog(ARGV[3], job.workspaceId, -1)
notify(ARGV[3], job, job.updatedAt)
return {1, raw}
