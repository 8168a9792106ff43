-- authenticate.lua: fetch an API key's record and count one request in the key's rate window,
-- in one round trip (store/api_keys.py).
--
-- KEYS[1]  {p}:apikey:{id}     string  the key's record (absent for the bootstrap key)
-- KEYS[2]  {p}:api-rate:{id}   string  requests made with the key in the current window
-- ARGV[1]  '1' if the record must exist (a stored key), '0' for the bootstrap key
-- ARGV[2]  requests allowed per window (0 = no limit)
-- ARGV[3]  window, ms
-- Returns {record or false, requests in this window, ms until the window ends}.
local record = redis.call('GET', KEYS[1])
if not record and ARGV[1] == '1' then return {false, 0, 0} end
local limit = tonumber(ARGV[2])
if limit == 0 then return {record, 0, 0} end
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  ttl = tonumber(ARGV[3])
end
return {record, count, ttl}
