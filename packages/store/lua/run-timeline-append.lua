-- run-timeline-append: appends entries to a run's timeline, skipping those whose key it already holds.
--
-- KEYS[1] t:<tenant>:run:<id>   KEYS[2] t:<tenant>:run-timeline:<id>   KEYS[3] t:<tenant>:run-tlkeys:<id>
-- ARGV[1] entries kept   ARGV[2] n, then n pairs: key or '', tail (model/run.ts)
--
-- Returns {'appended', {seq, duplicate (0/1), …}} | {'not_found'}.

-- @include run-common

if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 'not_found' }
end
return { 'appended', appendTimeline(KEYS[1], KEYS[2], KEYS[3], fmt(storeNow()), tonumber(ARGV[1]), 3, tonumber(ARGV[2])) }
