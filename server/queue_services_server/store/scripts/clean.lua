-- clean.lua: delete up to N finished jobs of one status that entered it before a cutoff.
--
-- KEYS[1]  {p}:state:{ch}:{status}   zset   COMPLETED, FAILED or CANCELLED jobs, by time
-- ARGV[1]  key prefix {p}: records {p}:job:{id} and {p}:workspace:{ws}:jobs are named from it
-- ARGV[2]  cutoff, ms: jobs that entered the status at or before it go
-- ARGV[3]  most jobs to delete in this call (the caller repeats until 0)
--
-- Returns the number of jobs deleted.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local key = ARGV[1] .. ':job:' .. id
  local raw = redis.call('GET', key)
  if raw then
    local job = decode_job(raw, id)
    redis.call('ZREM', ARGV[1] .. ':workspace:' .. job.workspaceId .. ':jobs', id)
    redis.call('DEL', key)
  end
  redis.call('ZREM', KEYS[1], id)
end
return #ids
