-- cancel_jobs.lua: cancel jobs not yet on their way to the provider: a list of ids, or a stretch
-- of a campaign's list. One call handles a bounded number of jobs; the caller loops.
--
-- ARGV[1]  'ids' or 'campaign'
-- ARGV[2]  key prefix {p}: records {p}:job:{id}, and the keys a job's channel, workspace and
--          priority name (its schedule, the due index and round by dequeue in _common.lua; the
--          status indexes {p}:state:{ch}:{status}; in flight: {p}:owner:{ch},
--          {p}:sending:{ch}, {p}:inflight:{ch}, {p}:inflight-ws:{ch}; {p}:backlog,
--          {p}:wake:{ch})
-- ARGV[3]  now, ms since the epoch
-- ARGV[4]  the only workspace whose jobs may be cancelled ('' = any: an admin key); another
--          workspace's job counts as not found, so a key cannot probe for ids
-- with 'ids':      ARGV[5...] the job ids. Returns one code per id, in order (below).
-- with 'campaign': KEYS[1] {p}:campaign:{ws}:{campaign} (list of ids); ARGV[5] the index to
--          start at, ARGV[6] how many ids to look at. Returns {next, n0, n1, n2, n3}: next is
--          the index to go on from (-1 when the list is done), n0..n3 how many ids had each code.
--
-- Codes: 0 = no such job (or another workspace's), 1 = cancelled now, 2 = was already
-- cancelled, 3 = not cancellable: sent, failed, or given its send slot.
--
-- What may still be stopped: a SCHEDULED job, and a PROCESSING one whose sender has not been
-- given its slot yet (it is not in {p}:sending:{ch}): it leaves its batch (owner, lease and the
-- workspace's count in flight), so the pacer answers "lost" and nothing sends it. A job with its
-- slot goes out within the pacer's horizon (0.4 s) and counts as not cancellable. Scripts run
-- one at a time, so a cancel and a slot cannot both win.
local mode, prefix, now, only_ws = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local backlog_drop, wake = {}, {}

local function cancel_one(id)
  local key = prefix .. ':job:' .. id
  local raw = redis.call('GET', key)
  if not raw then return 0 end
  local job = cjson.decode(raw)
  if only_ws ~= '' and job.workspaceId ~= only_ws then return 0 end
  if job.status == 'CANCELLED' then return 2 end
  local channel = job.channel
  local from = job.status
  if from == 'SCHEDULED' then
    dequeue(prefix, channel, job.workspaceId, job.priority, id)
  elseif from == 'PROCESSING' then
    if redis.call('SISMEMBER', prefix .. ':sending:' .. channel, id) == 1 then return 3 end
    redis.call('HDEL', prefix .. ':owner:' .. channel, id)
    redis.call('ZREM', prefix .. ':inflight:' .. channel, id)
    local in_flight = prefix .. ':inflight-ws:' .. channel
    if redis.call('HINCRBY', in_flight, job.workspaceId, -1) <= 0 then
      redis.call('HDEL', in_flight, job.workspaceId)
    end
    job.batch = nil
    wake[prefix .. ':wake:' .. channel] = true
  else
    return 3
  end
  job.status = 'CANCELLED'
  job.updatedAt = now
  redis.call('ZREM', prefix .. ':state:' .. channel .. ':' .. from, id)
  redis.call('ZADD', prefix .. ':state:' .. channel .. ':CANCELLED', now, id)
  redis.call('SET', key, cjson.encode(job), 'KEEPTTL')
  backlog_drop[job.workspaceId] = (backlog_drop[job.workspaceId] or 0) + 1
  notify(prefix, job, now)
  return 1
end

local result
if mode == 'ids' then
  result = {}
  for i = 5, #ARGV do result[#result + 1] = cancel_one(ARGV[i]) end
else
  local start, count = tonumber(ARGV[5]), tonumber(ARGV[6])
  local ids = redis.call('LRANGE', KEYS[1], start, start + count - 1)
  local counts = {0, 0, 0, 0}
  for _, id in ipairs(ids) do
    local code = cancel_one(id)
    counts[code + 1] = counts[code + 1] + 1
  end
  local next_start = -1
  if #ids == count then next_start = start + count end
  result = {next_start, counts[1], counts[2], counts[3], counts[4]}
end
for ws, n in pairs(backlog_drop) do backlog(prefix, ws, -n) end
for key in pairs(wake) do
  -- room in flight again: a sleeping dispatcher may claim
  redis.call('LPUSH', key, '1')
  redis.call('LTRIM', key, 0, 0)
end
return result
