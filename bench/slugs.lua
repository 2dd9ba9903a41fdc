-- wrk script: GET a random slug from $SLUGS_FILE on every request (fixed seed, so runs are comparable).
local slugs = {}
for line in io.lines(os.getenv("SLUGS_FILE")) do
  slugs[#slugs + 1] = line
end
math.randomseed(42)
-- USER_AGENT: sent with every request (wrk sends none, which click analytics counts as a bot).
local headers = {}
if os.getenv("USER_AGENT") then
  headers["User-Agent"] = os.getenv("USER_AGENT")
end

request = function()
  return wrk.format("GET", "/" .. slugs[math.random(#slugs)], headers)
end

done = function(summary, latency, requests)
  local non_3xx = summary.errors.status
  io.write(string.format("BENCH rps=%.0f p50_us=%d p99_us=%d non_3xx=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99), non_3xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
