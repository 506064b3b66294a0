-- api_latency.lua — wrk script of bench/run_api_bench.sh: sends the token
-- (TOKEN in the environment; Accept-Encoding when ACCEPT_ENCODING is set)
-- and prints, when done, one line of figures:
-- requests/s, latency p50/p90/p99/max in ms, non-2xx answers and socket
-- errors.
local token = os.getenv("TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local encoding = os.getenv("ACCEPT_ENCODING")
if encoding ~= nil and encoding ~= "" then
  wrk.headers["Accept-Encoding"] = encoding
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local errs = summary.errors.connect + summary.errors.read +
               summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "RESULT rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d non2xx=%d socket_errors=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests, summary.errors.status, errs))
end
