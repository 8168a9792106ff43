-- tier_usage.lua: how much of a channel one workspace is using now: its tier, its sends in the
-- last window, whether its provider account is held, and its due jobs waiting. Reads only.
--
-- KEYS[1]  {p}:tiers:{ch}              hash    workspace -> its own limit, sends per second
-- KEYS[2]  {p}:pace:{ch}:{ws}          zset    the workspace's send log (kept while it has a tier)
-- KEYS[3]  {p}:pace:{ch}               zset    the channel's send log (kept while the channel
--                                              has a limit): token "<job id>:<batch id>" -> slot
-- KEYS[4]  {p}:rate-hold:{ch}:{acct}   string  ms until which the workspace's account is held
-- KEYS[5]  {p}:schedule:{ch}:{ws}:high     zset  the workspace's waiting jobs, per priority
-- KEYS[6]  {p}:schedule:{ch}:{ws}:normal   zset  (id -> due ms)
-- KEYS[7]  {p}:schedule:{ch}:{ws}:low      zset
-- ARGV[1]  key prefix {p}: job records {p}:job:{id} are named from it (which jobs is known only
--          from the channel's log)
-- ARGV[2]  workspace id
-- ARGV[3]  window, ms: sends with a slot in (now - window, now] are counted
-- ARGV[4]  '1' if the channel has a limit (its log is kept), else '0'
--
-- Returns {now, tier, used, hold_until, backlog}: now = Redis's clock (ms); tier = the
-- workspace's own limit (0: none); used = its sends in the window, -1 if nothing counts them
-- (no tier and no channel limit: neither log is kept); hold_until = the hold's end (ms, 0: none);
-- backlog = its jobs due and waiting to be sent.
--
-- Counting: with a tier, the workspace's own log, as the pacer judges the tier by it (one
-- ZCOUNT). Without one, the channel's log: its tokens name jobs and batches, not workspaces, and
-- a batch is one workspace's, so one job record per batch in the window says whose the batch's
-- sends are. The window holds at most the channel's limit of tokens and a few dozen batches:
-- measured, about 0.3 ms at 1,000 tokens and 2.6 ms at 10,000. A slot is a send started (or
-- about to start, within ms), not one the provider has answered; slots given ahead (up to the
-- pacer's horizon) do not count.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix, ws, window = ARGV[1], ARGV[2], tonumber(ARGV[3])
local channel_limited = ARGV[4] == '1'
local since = '(' .. (now - window)

-- the pacer ignores a tier that is not a positive number, and so does this
local tier = tonumber(redis.call('HGET', KEYS[1], ws) or '0') or 0
if tier <= 0 then tier = 0 end

local used = -1
if tier > 0 then
  used = redis.call('ZCOUNT', KEYS[2], since, now)
elseif channel_limited then
  used = 0
  -- per batch in the window: its sends, and a few of its jobs to learn whose it is from
  local counts, jobs, order = {}, {}, {}
  for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], since, now)) do
    local colon = string.find(token, ':', 1, true)  -- job ids hold no ':'
    if colon then
      local batch = string.sub(token, colon + 1)
      local count = counts[batch]
      if not count then
        order[#order + 1] = batch
        jobs[batch] = {}
        count = 0
      end
      counts[batch] = count + 1
      if count < 3 then jobs[batch][count + 1] = string.sub(token, 1, colon - 1) end
    end
  end
  for _, batch in ipairs(order) do
    -- the first of its jobs whose record is still there (retention may have deleted some)
    for _, job in ipairs(jobs[batch]) do
      local raw = redis.call('GET', prefix .. ':job:' .. job)
      if raw then
        if decode_job(raw, job).workspaceId == ws then used = used + counts[batch] end
        break
      end
    end
  end
end

local hold = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
if hold <= now then hold = 0 end

local backlog = 0
for i = 5, 7 do backlog = backlog + redis.call('ZCOUNT', KEYS[i], '-inf', now) end

return {now, tier, used, hold, backlog}
