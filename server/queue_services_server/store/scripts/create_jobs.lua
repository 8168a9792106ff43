-- create_jobs.lua: store new jobs and put them on their schedule, or report the ones that exist.
--
-- Called with N jobs at once (a single request is N = 1, a bulk request a chunk of N).
-- KEYS, seven per job i (1-based, k = 7(i-1)):
--   KEYS[k+1]  {p}:job:{id}                    string  the job record (written here if absent)
--   KEYS[k+2]  {p}:schedule:{channel}          zset    id -> due time, ms (a job due later)
--   KEYS[k+3]  {p}:workspace:{ws}:jobs         zset    id -> creation time, ms (added here)
--   KEYS[k+4]  {p}:state:{channel}:SCHEDULED   zset    id -> creation time, ms (added here)
--   KEYS[k+5]  {p}:lane:{ch}:{ws}:{priority}   list    a job due at once goes straight here...
--   KEYS[k+6]  {p}:ready:{channel}             zset    ...and its workspace joins the round
--   KEYS[k+7]  {p}:wake:{channel}              list    a token that wakes a sleeping dispatcher
-- ARGV, four per job i (a = 4(i-1)):
--   ARGV[a+1]  job id
--   ARGV[a+2]  due time, ms since the epoch
--   ARGV[a+3]  creation time, ms since the epoch
--   ARGV[a+4]  the record, JSON (store/records.py)
-- and three more after those:
--   ARGV[#ARGV-2]  key prefix {p} (the backlog counts {p}:backlog)
--   ARGV[#ARGV-1]  most unfinished jobs a workspace may have (0 = no bound)
--   ARGV[#ARGV]    wake horizon, ms: a job created due within it wakes its channel's dispatcher
--                  (once per channel per call); later ones are found by the dispatcher's own look
--
-- A job due at its creation skips the schedule: going through it, it would wait behind every
-- job due earlier for claim.lua to move them into lanes a thousand at a time, so a workspace
-- scheduling a few messages behind another's large backlog would wait for that move (measured:
-- about a second behind 20,000 at 100/s). Its workspace's place in the round is its due time,
-- exactly as claim.lua would have given it.
--
-- Returns one entry per job: 1 if it was created, 0 if it was refused because its workspace's
-- backlog is full, or the existing record (a string) when a job with that id is already stored;
-- the caller compares digests to tell a retry from a conflict.
-- An id only repeats when it was derived from an idempotency key, so "exists" means "this key
-- was used before".
local prefix, max_backlog = ARGV[#ARGV - 2], tonumber(ARGV[#ARGV - 1])
local wake_horizon = tonumber(ARGV[#ARGV])
local results, wake = {}, {}
for i = 1, #KEYS / 7 do
  local k, a = 7 * (i - 1), 4 * (i - 1)
  local existing = redis.call('GET', KEYS[k + 1])
  -- the workspace is the one segment of {p}:workspace:{ws}:jobs between its fixed parts
  local workspace = string.sub(KEYS[k + 3], #prefix + 12, -6)
  if existing then
    results[i] = existing
  elseif max_backlog > 0
      and (tonumber(redis.call('HGET', prefix .. ':backlog', workspace)) or 0) >= max_backlog then
    results[i] = 0
  else
    backlog(prefix, workspace, 1)
    local id, due, created = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    redis.call('SET', KEYS[k + 1], ARGV[a + 4])
    if due <= created then
      redis.call('RPUSH', KEYS[k + 5], id)
      redis.call('ZADD', KEYS[k + 6], 'NX', due, workspace)
    else
      redis.call('ZADD', KEYS[k + 2], due, id)
    end
    redis.call('ZADD', KEYS[k + 3], created, id)
    redis.call('ZADD', KEYS[k + 4], created, id)
    if due - created < wake_horizon then wake[KEYS[k + 7]] = true end
    results[i] = 1
  end
end
for key in pairs(wake) do
  redis.call('LPUSH', key, '1')
  redis.call('LTRIM', key, 0, 0)
end
return results
