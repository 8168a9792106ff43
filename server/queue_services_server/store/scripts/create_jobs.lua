-- create_jobs.lua: store new jobs and put them on their schedule, or report the ones that exist.
--
-- Called with N jobs at once (a single request is N = 1, a bulk request a chunk of N).
-- KEYS, four per job i (1-based):
--   KEYS[4i-3]  {p}:job:{id}                    string  the job record (written here if absent)
--   KEYS[4i-2]  {p}:schedule:{channel}          zset    id -> due time, ms (added here)
--   KEYS[4i-1]  {p}:workspace:{ws}:jobs         zset    id -> creation time, ms (added here)
--   KEYS[4i]    {p}:state:{channel}:SCHEDULED   zset    id -> creation time, ms (added here)
-- ARGV, four per job i:
--   ARGV[4i-3]  job id
--   ARGV[4i-2]  due time, ms since the epoch
--   ARGV[4i-1]  creation time, ms since the epoch
--   ARGV[4i]    the record, JSON (store/records.py)
-- and two more after those:
--   ARGV[#ARGV-1]  key prefix {p} (the backlog counts {p}:backlog)
--   ARGV[#ARGV]    most unfinished jobs a workspace may have (0 = no bound)
--
-- Returns one entry per job: 1 if it was created, 0 if it was refused because its workspace's
-- backlog is full, or the existing record (a string) when a job with that id is already stored;
-- the caller compares digests to tell a retry from a conflict.
-- An id only repeats when it was derived from an idempotency key, so "exists" means "this key
-- was used before".
local prefix, max_backlog = ARGV[#ARGV - 1], tonumber(ARGV[#ARGV])
local results = {}
for i = 1, #KEYS / 4 do
  local job_key = KEYS[4 * i - 3]
  local existing = redis.call('GET', job_key)
  -- the workspace is the one segment of {p}:workspace:{ws}:jobs between its fixed parts
  local workspace = string.sub(KEYS[4 * i - 1], #prefix + 12, -6)
  if existing then
    results[i] = existing
  elseif max_backlog > 0
      and (tonumber(redis.call('HGET', prefix .. ':backlog', workspace)) or 0) >= max_backlog then
    results[i] = 0
  else
    backlog(prefix, workspace, 1)
    local id = ARGV[4 * i - 3]
    redis.call('SET', job_key, ARGV[4 * i])
    redis.call('ZADD', KEYS[4 * i - 2], ARGV[4 * i - 2], id)
    redis.call('ZADD', KEYS[4 * i - 1], ARGV[4 * i - 1], id)
    redis.call('ZADD', KEYS[4 * i], ARGV[4 * i - 1], id)
    results[i] = 1
  end
end
return results
