-- cancel_jobs.lua: cancel jobs not yet on their way to the provider: a list of ids, or a stretch
-- of a campaign's list. One call handles a bounded number of jobs; the caller loops.
--
-- ARGV[1]  'ids' or 'campaign'
-- ARGV[2]  key prefix {p}: records {p}:job:{id}, and the keys a job's channel, workspace and
--          priority name (its schedule, the due index and round by dequeue in _common.lua; the
--          status indexes {p}:state:{ch}:{status} and {p}:scheduled-count:{ch}; in flight:
--          {p}:owner:{ch},
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

-- Redis commands are the cost of a script (a few us each), so one call does a kind of change
-- for all the jobs it applies to: one MGET, one ZREM per schedule and status index, one MSET.
local function cancel_all(ids)
  local codes = {}
  if #ids == 0 then return codes end
  local keys = {}
  for i, id in ipairs(ids) do keys[i] = prefix .. ':job:' .. id end
  local raws = redis.call('MGET', unpack(keys))
  local writes, leave, enter, schedules, backlog_drop, wake = {}, {}, {}, {}, {}, {}
  local function add(groups, key, id)
    local group = groups[key]
    if not group then group = {}; groups[key] = group end
    group[#group + 1] = id
  end
  for i, id in ipairs(ids) do
    local raw, code = raws[i], 1
    local job, body
    if raw then job, body = decode_job(raw, id) end
    if not job or (only_ws ~= '' and job.workspaceId ~= only_ws) then
      code = 0
    elseif job.status == 'CANCELLED' then
      code = 2
    elseif job.status == 'PROCESSING' then
      if redis.call('SISMEMBER', prefix .. ':sending:' .. job.channel, id) == 1 then code = 3 end
    elseif job.status ~= 'SCHEDULED' then
      code = 3
    end
    if code == 1 then
      local channel, ws = job.channel, job.workspaceId
      if job.status == 'SCHEDULED' then
        add(schedules, channel .. '\0' .. ws .. '\0' .. job.priority, id)
      else
        -- taken, without its slot yet: out of its batch, so the pacer answers "lost" for it
        redis.call('HDEL', prefix .. ':owner:' .. channel, id)
        redis.call('ZREM', prefix .. ':inflight:' .. channel, id)
        local in_flight = prefix .. ':inflight-ws:' .. channel
        if redis.call('HINCRBY', in_flight, ws, -1) <= 0 then redis.call('HDEL', in_flight, ws) end
        job.batch = nil
        wake[prefix .. ':wake:' .. channel] = true
      end
      add(leave, channel .. '\0' .. job.status, id)
      add(enter, channel, id)
      job.status = 'CANCELLED'
      job.updatedAt = now
      writes[#writes + 1] = keys[i]
      writes[#writes + 1] = encode_job(job, body)
      backlog_drop[ws] = (backlog_drop[ws] or 0) + 1
      notify(prefix, job, now)
    end
    codes[i] = code
  end
  for place, members in pairs(schedules) do
    local channel, ws, priority = string.match(place, '^(.-)%z(.*)%z(.-)$')
    dequeue_many(prefix, channel, ws, priority, members)
  end
  for place, members in pairs(leave) do
    local channel, status = string.match(place, '^(.-)%z(.*)$')
    leave_status(prefix, channel, status, members)
  end
  for channel, members in pairs(enter) do
    enter_status(prefix, channel, 'CANCELLED', members, now)
  end
  -- records carry no TTL (retention deletes them): MSET keeps what SET KEEPTTL would
  if #writes > 0 then redis.call('MSET', unpack(writes)) end
  for ws, n in pairs(backlog_drop) do backlog(prefix, ws, -n) end
  for key in pairs(wake) do
    -- room in flight again: a sleeping dispatcher may claim
    redis.call('LPUSH', key, '1')
    redis.call('LTRIM', key, 0, 0)
  end
  return codes
end

if mode == 'ids' then
  local ids = {}
  for i = 5, #ARGV do ids[#ids + 1] = ARGV[i] end
  return cancel_all(ids)
end
local start, count = tonumber(ARGV[5]), tonumber(ARGV[6])
local ids = redis.call('LRANGE', KEYS[1], start, start + count - 1)
local counts = {0, 0, 0, 0}
for _, code in ipairs(cancel_all(ids)) do counts[code + 1] = counts[code + 1] + 1 end
local next_start = -1
if #ids == count then next_start = start + count end
return {next_start, counts[1], counts[2], counts[3], counts[4]}
