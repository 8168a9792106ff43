"""The job store in Redis: key layout, records, Lua scripts and the JobStore."""
