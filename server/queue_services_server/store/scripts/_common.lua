-- _common.lua: helpers put in front of every script when it is loaded (store/lua.py). They
-- build key names from the prefix with the patterns of store/keys.py.
--
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
