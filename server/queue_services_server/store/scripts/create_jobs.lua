-- create_jobs.lua: store new jobs and put them on their workspace's schedule, or report the ones
-- that exist.
--
-- Called with N jobs at once (a single request is N = 1, a bulk request a chunk of N).
-- KEYS, six per job i (1-based, k = 6(i-1)):
--   KEYS[k+1]  {p}:job:{id}                      string  the job record (written here if absent)
--   KEYS[k+2]  {p}:schedule:{ch}:{ws}:{priority} zset    id -> due time, ms
--   KEYS[k+3]  {p}:workspace:{ws}:jobs           zset    id -> creation time, ms (added here)
--   KEYS[k+4]  {p}:scheduled-count:{channel}     string  the channel's SCHEDULED jobs (counted)
--   KEYS[k+5]  {p}:campaign:{ws}:{campaign}      list    the id is appended (when ARGV[a+5]
--                                                        is '1'; else this is KEYS[k+1] again)
--   KEYS[k+6]  {p}:wake:{channel}                list    a token that wakes a sleeping dispatcher
-- ARGV, five per job i (a = 5(i-1)):
--   ARGV[a+1]  job id
--   ARGV[a+2]  due time, ms since the epoch
--   ARGV[a+3]  creation time, ms since the epoch
--   ARGV[a+4]  the record, JSON (store/records.py)
--   ARGV[a+5]  '1' if the job belongs to a campaign (KEYS[k+5]), else '0'
-- and three more after those:
--   ARGV[#ARGV-2]  key prefix {p} (the backlog counts {p}:backlog, the due index and round)
--   ARGV[#ARGV-1]  most unfinished jobs a workspace may have (0 = no bound)
--   ARGV[#ARGV]    wake horizon, ms: a job created due within it wakes its channel's dispatcher
--                  (once per channel per call); later ones are found by the dispatcher's own look
--
-- Every job, due now or later, goes on its workspace's own schedule (enqueue in _common.lua):
-- a claim moves whole workspaces into the round when their earliest job is due, so a job is
-- never behind another workspace's backlog, however large, only behind its turns.
--
-- Returns one entry per job: 1 if it was created, 0 if it was refused because its workspace's
-- backlog is full, or the existing record (a string) when a job with that id is already stored;
-- the caller compares digests to tell a retry from a conflict.
-- An id only repeats when it was derived from an idempotency key, so "exists" means "this key
-- was used before".
local prefix, max_backlog = ARGV[#ARGV - 2], tonumber(ARGV[#ARGV - 1])
local wake_horizon = tonumber(ARGV[#ARGV])
local results, wake, scheduled = {}, {}, {}
for i = 1, #KEYS / 6 do
  local k, a = 6 * (i - 1), 5 * (i - 1)
  local existing = redis.call('GET', KEYS[k + 1])
  -- {p}:schedule:{ch}:{ws}:{priority}: channel and priority hold no ':', the workspace id is
  -- what lies between them
  local channel, workspace, priority =
    string.match(string.sub(KEYS[k + 2], #prefix + 11), '^([^:]+):(.+):([^:]+)$')
  if existing then
    results[i] = existing
  elseif max_backlog > 0
      and (tonumber(redis.call('HGET', prefix .. ':backlog', workspace)) or 0) >= max_backlog then
    results[i] = 0
  else
    backlog(prefix, workspace, 1)
    local id, due, created = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    redis.call('SET', KEYS[k + 1], ARGV[a + 4])
    enqueue(prefix, channel, workspace, priority, id, due)
    redis.call('ZADD', KEYS[k + 3], created, id)
    scheduled[KEYS[k + 4]] = (scheduled[KEYS[k + 4]] or 0) + 1
    if ARGV[a + 5] == '1' then redis.call('RPUSH', KEYS[k + 5], id) end
    if due - created < wake_horizon then wake[KEYS[k + 6]] = true end
    results[i] = 1
  end
end
for key, n in pairs(scheduled) do redis.call('INCRBY', key, n) end
for key in pairs(wake) do
  redis.call('LPUSH', key, '1')
  redis.call('LTRIM', key, 0, 0)
end
return results
