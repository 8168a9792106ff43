-- page_ids.lua: one page of an index zset, newest first, after a cursor.
--
-- KEYS[1]  an index zset, e.g. {p}:workspace:{ws}:jobs (member = job id, score = time in ms)
-- ARGV[1]  cursor member ("" for the first page): the last id of the previous page
-- ARGV[2]  cursor score: that member's score, used when the member has since been removed
-- ARGV[3]  how many ids to return
--
-- Returns a flat list id1, score1, id2, score2, ...
-- Paging by the cursor member's rank (ZREVRANK, O(log n)) stays exact when many jobs share a
-- millisecond (a bulk request creates thousands at once); paging by score alone would not.
local count = tonumber(ARGV[3])
if ARGV[1] == '' then
  return redis.call('ZREVRANGE', KEYS[1], 0, count - 1, 'WITHSCORES')
end
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if rank then
  return redis.call('ZREVRANGE', KEYS[1], rank + 1, rank + count, 'WITHSCORES')
end
return redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '-inf', 'WITHSCORES', 'LIMIT', 0, count)
