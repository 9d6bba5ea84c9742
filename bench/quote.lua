-- wrk script for the quote benchmark: POST a quote-shaped JSON body for a new visitor on
-- every request (the same bytes to the bare view and to the quote), then print a summary
-- as JSON for bench/load.py. Environment: BENCH_SKUS (comma-separated), BENCH_KEY,
-- BENCH_RUN (makes visitor ids differ between runs).

local skus = os.getenv("BENCH_SKUS") or "bench-tea"
local key = os.getenv("BENCH_KEY") or ""
local run = os.getenv("BENCH_RUN") or "0"
local products = '"' .. skus:gsub(",", '","') .. '"'
local threads = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

function setup(thread)
  threads = threads + 1
  thread:set("tag", tostring(threads))
end

local n = 0

function request()
  n = n + 1
  local body = '{"visitor_id": "v-' .. run .. '-' .. tag .. '-' .. n .. '", "products": [' .. products .. ']}'
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p99": %d}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
