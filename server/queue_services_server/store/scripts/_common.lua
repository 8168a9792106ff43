-- _common.lua: helpers put in front of every script when it is loaded (store/jobs.py).
--
-- notify(prefix, job, now): when the job has a callbackUrl, append its new status to the
--   {p}:callbacks stream (capped at about 100,000 entries), which the workers' callback
--   senders deliver. Called by every script that changes a job's status.
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
    redis.call('XADD', prefix .. ':callbacks', 'MAXLEN', '~', 100000, '*', unpack(fields))
  end
end
