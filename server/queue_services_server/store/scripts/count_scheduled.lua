-- count_scheduled.lua: upgrade a store whose SCHEDULED jobs had an index of their own to the
-- count that replaces it.
--
-- KEYS[1]  {p}:state:{ch}:SCHEDULED  zset    earlier stores: the SCHEDULED jobs (deleted here)
-- KEYS[2]  {p}:scheduled-count:{ch}  string  the channel's SCHEDULED jobs, counted
--
-- The scripts of this release never touch the old index, so a job that left SCHEDULED before
-- this ran (a worker of this release took it) was subtracted from the count while it was still
-- in the index, and adding the index's size makes it right. Returns the size added (0: nothing
-- to upgrade).
local n = redis.call('ZCARD', KEYS[1])
if n > 0 then
  redis.call('INCRBY', KEYS[2], n)
  redis.call('DEL', KEYS[1])
end
return n
