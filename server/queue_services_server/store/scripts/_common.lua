-- _common.lua: helpers put in front of every script when it is loaded (store/lua.py). They
-- build key names from the prefix with the patterns of store/keys.py.
--
-- decode_job(raw, id): a job record (store/records.py) as its fields (a table, with its id and
--   its priority filled in) and its body (the text after the first newline, never parsed here).
--   A record of an earlier release, one JSON object holding its body as a string, gives the
--   same two.
-- encode_job(job, body): the record to store: the fields (without the id, and without the
--   priority when it is 'normal'), a newline, the body.
local function decode_job(raw, id)
  local fields_end = string.find(raw, '\n', 1, true)
  local job, body
  if fields_end then
    job = cjson.decode(string.sub(raw, 1, fields_end - 1))
    body = string.sub(raw, fields_end + 1)
  else
    job = cjson.decode(raw)
    body = job.body
    job.body = nil
  end
  job.id = id
  if not job.priority or job.priority == cjson.null then job.priority = 'normal' end
  return job, body
end

local function encode_job(job, body)
  local id, priority = job.id, job.priority
  job.id = nil
  if priority == 'normal' then job.priority = nil end
  local fields = cjson.encode(job)
  job.id, job.priority = id, priority
  return fields .. '\n' .. body
end

-- leave_status(prefix, channel, status, ids) / enter_status(prefix, channel, status, ids, now):
--   jobs of a channel leave or enter a status's index, {p}:state:{ch}:{status} (entered at
--   `now`); SCHEDULED has a count instead, {p}:scheduled-count:{ch}, since its jobs are on
--   their schedules already. Called by every script that changes a status, with the jobs
--   whose status it changed.
local function leave_status(prefix, channel, status, ids)
  if #ids == 0 then return end
  if status == 'SCHEDULED' then
    redis.call('DECRBY', prefix .. ':scheduled-count:' .. channel, #ids)
  else
    redis.call('ZREM', prefix .. ':state:' .. channel .. ':' .. status, unpack(ids))
  end
end

local function enter_status(prefix, channel, status, ids, now)
  if #ids == 0 then return end
  if status == 'SCHEDULED' then
    redis.call('INCRBY', prefix .. ':scheduled-count:' .. channel, #ids)
    return
  end
  local scored = {}
  for _, id in ipairs(ids) do
    scored[#scored + 1] = now
    scored[#scored + 1] = id
  end
  redis.call('ZADD', prefix .. ':state:' .. channel .. ':' .. status, unpack(scored))
end

-- notify(prefix, job, now): when the job has a callbackUrl, append its new status to the
--   {p}:callbacks stream, which the workers' callback senders deliver (and then delete: the
--   stream holds only what is still to deliver, so it is never trimmed; intake refuses jobs
--   with a callback URL past MAX_CALLBACK_BACKLOG instead, store/guard.py). Called by every
--   script that changes a job's status.
-- backlog(prefix, ws, delta): move a workspace's count of unfinished (SCHEDULED or PROCESSING)
--   jobs in {p}:backlog, the figure MAX_WORKSPACE_BACKLOG bounds. Called where a job enters or
--   leaves those statuses; a count reaching 0 is removed so the hash holds busy workspaces only.
local function backlog(prefix, ws, delta)
  if redis.call('HINCRBY', prefix .. ':backlog', ws, delta) <= 0 then
    redis.call('HDEL', prefix .. ':backlog', ws)
  end
end

local function notify(prefix, job, now)
  if job.callbackUrl and job.callbackUrl ~= cjson.null then
    local fields = {
      'jobId', job.id, 'status', job.status, 'url', job.callbackUrl, 'at', tostring(now),
      'workspaceId', job.workspaceId, 'channel', job.channel,
      'attempts', tostring(job.attempts or 0),
    }
    if job.lastError and job.lastError ~= cjson.null then
      fields[#fields + 1] = 'lastError'
      fields[#fields + 1] = job.lastError
    end
    if job.providerMessageId and job.providerMessageId ~= cjson.null then
      fields[#fields + 1] = 'providerMessageId'
      fields[#fields + 1] = job.providerMessageId
    end
    redis.call('XADD', prefix .. ':callbacks', '*', unpack(fields))
  end
end

-- enqueue(prefix, channel, ws, priority, id, due): put a job on its workspace's schedule (or move
--   it there to a new due time) and keep the workspace findable: a workspace already in the
--   round keeps its place, else its entry in the due index is its earliest due time (LT).
-- dequeue(prefix, channel, ws, priority, id): take a job off its workspace's schedule; a
--   workspace left with nothing waiting leaves the due index, the round and its deficit. When
--   jobs remain, a due score that is now too early is left for claim.lua to correct.
local function enqueue(prefix, channel, ws, priority, id, due)
  redis.call('ZADD', prefix .. ':schedule:' .. channel .. ':' .. ws .. ':' .. priority, due, id)
  if not redis.call('ZSCORE', prefix .. ':round:' .. channel .. ':' .. priority, ws) then
    redis.call('ZADD', prefix .. ':due:' .. channel .. ':' .. priority, 'LT', due, ws)
  end
end

-- dequeue_many(prefix, channel, ws, priority, ids): the same for several jobs of one schedule,
--   in one ZREM.
local function dequeue_many(prefix, channel, ws, priority, ids)
  local schedule = prefix .. ':schedule:' .. channel .. ':' .. ws .. ':' .. priority
  if redis.call('ZREM', schedule, unpack(ids)) > 0 and redis.call('EXISTS', schedule) == 0 then
    redis.call('ZREM', prefix .. ':due:' .. channel .. ':' .. priority, ws)
    redis.call('ZREM', prefix .. ':round:' .. channel .. ':' .. priority, ws)
    redis.call('HDEL', prefix .. ':deficit:' .. channel, ws .. '|' .. priority)
  end
end

local function dequeue(prefix, channel, ws, priority, id)
  dequeue_many(prefix, channel, ws, priority, {id})
end
