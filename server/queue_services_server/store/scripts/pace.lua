-- pace.lua: give the jobs of a batch their send slots under every limit that applies to them
-- (the channel's, the workspace's tier), or say how long to wait; or hold an account back.
--
-- KEYS[1]  {p}:owner:{ch}            hash    job -> batch: a job no longer the batch's gets no slot
-- KEYS[2]  {p}:pace:{ch}             zset    the channel's send log: token -> slot (ms)
-- KEYS[3]  {p}:pace-next:{ch}        string  the channel's next free slot (ms)
-- KEYS[4]  {p}:rate-hold:{ch}:{acct} string  ms until which the workspace's account is held
-- KEYS[5]  {p}:tiers:{ch}            hash    workspace -> its own limit, sends per second
-- KEYS[6]  {p}:pace:{ch}:{ws}        zset    the workspace's send log, when it has a tier
-- KEYS[7]  {p}:pace-next:{ch}:{ws}   string  the workspace's next free slot
-- KEYS[8]  {p}:sending:{ch}          set     jobs given their slot: a cancel leaves them be
--
-- ARGV[1]  'reserve' or 'hold'
-- with 'reserve':
--   ARGV[2]  batch id
--   ARGV[3]  workspace id
--   ARGV[4]  the channel's limit: sends per window (0 = none)
--   ARGV[5]  window, ms (the second of the limit plus the margin that absorbs jitter)
--   ARGV[6]  horizon, ms: no slot is given further ahead than this
--   ARGV[7]  burst: sends of the channel that may go back to back (1 = evenly spread)
--   ARGV[8]  lead, ms: under a limit, no slot is given sooner than this from now, so that a send
--            has the time to make (and settle) its connection before its slot (the sender
--            starts that much early); without one, slots are at once
--   then per job: id, not-before (its due time, ms)
--   Returns {now, wait_ms, paced, slot1, slot2, ...}: paced is 1 if a limit applies (the
--   channel's or the workspace's), else 0; then one entry per job, in order: its slot (ms, Redis's
--   clock), -1 if it got none this time (ask again after wait_ms), -2 if the job is no longer
--   the batch's (its lease expired; another batch has it or will). A job's token in the logs is
--   "<job id>:<batch id>".
-- with 'hold': ARGV[2] ms: the workspace's provider account sends nothing for that long (it
--   answered 429); a longer hold already set is kept. Returns the hold's end (ms).
--
-- Why slots, and why spread: each send goes at its own slot, so a limit of N per second is N
-- sends spaced window/N apart, not N at the start of each second; with the margin in the
-- window, a few ms of jitter between the slot and the provider's clock cannot put N + 1 in any
-- second there. The log (a sliding window over the slots) keeps the bound when slots are not
-- evenly spaced: after a pause, or with a burst. Time is Redis's own clock (TIME), the one clock
-- every worker on every host shares.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode = ARGV[1]

if mode == 'hold' then
  local until_ms = now + tonumber(ARGV[2])
  local current = tonumber(redis.call('GET', KEYS[4]) or '0')
  if current >= until_ms then return current end
  redis.call('SET', KEYS[4], until_ms, 'PX', math.max(tonumber(ARGV[2]), 1))
  return until_ms
end

local batch, ws = ARGV[2], ARGV[3]
local channel_limit, window = tonumber(ARGV[4]), tonumber(ARGV[5])
local horizon, burst = tonumber(ARGV[6]), tonumber(ARGV[7])
local tier = tonumber(redis.call('HGET', KEYS[5], ws) or '0')
local result = {now, 0, 0}
local lead = tonumber(ARGV[8])
local first_job = 9

-- A limit: its log, its next free slot, how many per window, and the spacing between slots.
local function limit_of(log, next_key, count)
  if count <= 0 then return nil end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
  return {
    log = log, next_key = next_key, count = count, spacing = window / count,
    next = tonumber(redis.call('GET', next_key) or '0'),
  }
end
local limits = {}
local slotted = {}
local channel = limit_of(KEYS[2], KEYS[3], channel_limit)
if channel then limits[#limits + 1] = channel end
local workspace = nil
if tier > 0 then
  workspace = limit_of(KEYS[6], KEYS[7], tier)
  limits[#limits + 1] = workspace
end

-- The earliest slot at or after `s` that `limit` allows: no closer to the last slot than its
-- spacing (less the burst), and fewer than `count` sends in the window before it.
local function earliest(limit, s)
  local allowance = (limit == channel) and (burst - 1) * limit.spacing or 0
  s = math.max(s, limit.next - allowance)
  local over = redis.call('ZCOUNT', limit.log, '(' .. (s - window), '+inf') - limit.count + 1
  if over > 0 then
    -- the slot goes a window after the send that makes one too many before it
    local oldest = redis.call(
      'ZRANGEBYSCORE', limit.log, '(' .. (s - window), '+inf', 'WITHSCORES', 'LIMIT', over - 1, 1
    )
    s = math.max(s, tonumber(oldest[2]) + window)
  end
  return s
end

local hold = tonumber(redis.call('GET', KEYS[4]) or '0')
local stopped_wait = nil
if hold > now then stopped_wait = hold - now end

local asked = {}
for i = first_job, #ARGV, 2 do asked[#asked + 1] = ARGV[i] end
local owners = #asked > 0 and redis.call('HMGET', KEYS[1], unpack(asked)) or {}
for i = first_job, #ARGV, 2 do
  local id, not_before = ARGV[i], tonumber(ARGV[i + 1])
  if owners[(i - first_job) / 2 + 1] ~= batch then
    result[#result + 1] = -2
  elseif stopped_wait then
    result[#result + 1] = -1
  else
    local s = math.max(#limits > 0 and now + lead or now, not_before)
    local ok = true
    if channel then s = earliest(channel, s) end
    if workspace then
      local w = earliest(workspace, s)
      -- The tier must be ready by the channel's own next slot: a later slot would leave the
      -- channel's slots before it unused by every other workspace.
      if w > s then
        ok = false
        stopped_wait = math.max(w - now, 1)
      end
    end
    if ok and s - now > horizon then
      -- asked again when half the horizon has gone: a call gives half a horizon of slots
      ok = false
      stopped_wait = math.max(s - now - horizon / 2, 1)
    end
    if ok then
      local token = id .. ':' .. batch
      for _, limit in ipairs(limits) do
        redis.call('ZADD', limit.log, s, token)
        limit.next = math.max(limit.next, s + limit.spacing)
      end
      result[#result + 1] = s
      slotted[#slotted + 1] = id
    else
      stopped_wait = stopped_wait or 1
      result[#result + 1] = -1
    end
  end
end
if #limits > 0 then result[3] = 1 end
-- From its slot on, a job is on its way to the provider: cancel_jobs.lua no longer stops it.
if #slotted > 0 then redis.call('SADD', KEYS[8], unpack(slotted)) end
for _, limit in ipairs(limits) do
  -- kept with its fraction: rounding each slot up would slow the channel by up to 1 ms a slot
  redis.call('SET', limit.next_key, string.format('%.3f', limit.next), 'PX', window * 2 + 60000)
  redis.call('PEXPIRE', limit.log, window * 2 + 60000)
end
result[2] = stopped_wait or 0
return result
