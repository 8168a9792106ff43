-- upgrade_v1.lua: move a chunk of waiting jobs of one channel from layout v1 (the first release:
-- one schedule per channel, lanes of due jobs, a round of workspaces) onto their workspaces'
-- schedules (enqueue in _common.lua). Run by store/upgrade.py until nothing is left; each call
-- is bounded, so it can run while the API takes new jobs and workers send.
--
-- KEYS[1]  {p}:schedule:{ch}             zset    v1: id -> due ms (emptied here)
-- KEYS[2]  {p}:ready:{ch}                zset    v1: workspaces with due jobs in lanes
-- v1's lanes {p}:lane:{ch}:{ws}:{pri} (lists of due job ids) are named from the prefix and the
-- workspaces of KEYS[2]: v1 kept a workspace in its round while any of its lanes held a job.
-- ARGV[1]  key prefix {p}
-- ARGV[2]  channel
-- ARGV[3]  most jobs to move in this call
--
-- Only jobs still SCHEDULED move (a v1 lane could hold cancelled ones); v1 records are the
-- current records, so nothing else changes. Returns the number of jobs looked at; 0 = done.
local prefix, channel, budget = ARGV[1], ARGV[2], tonumber(ARGV[3])
local looked = 0
local function place(id, due_of)
  looked = looked + 1
  local raw = redis.call('GET', prefix .. ':job:' .. id)
  if not raw then return end
  local job = decode_job(raw, id)
  if job.status == 'SCHEDULED' then
    enqueue(prefix, channel, job.workspaceId, job.priority, id, due_of or job.scheduledFor)
  end
end
local function drain(lane)
  while looked < budget do
    local id = redis.call('LPOP', lane)
    if not id then return true end
    place(id, nil)
  end
  return redis.call('EXISTS', lane) == 0
end

local waiting = redis.call('ZRANGE', KEYS[1], 0, budget - 1, 'WITHSCORES')
for i = 1, #waiting, 2 do
  redis.call('ZREM', KEYS[1], waiting[i])
  place(waiting[i], tonumber(waiting[i + 1]))
end
while looked < budget do
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)
  if not first[1] then break end
  local emptied = true
  for _, priority in ipairs({'high', 'normal', 'low'}) do
    local lane = prefix .. ':lane:' .. channel .. ':' .. first[1] .. ':' .. priority
    emptied = drain(lane) and emptied
  end
  if emptied then redis.call('ZREM', KEYS[2], first[1]) end
end
return looked
