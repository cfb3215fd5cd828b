-- One wrk script for every workload, chosen by KGPERF_WORKLOAD; the
-- token and the seeded ids come from KGPERF_TOKEN and files in KGPERF_DIR.
-- Prints one KGPERF {...} line of JSON when wrk is done.

local workload = os.getenv("KGPERF_WORKLOAD") or "get_entity"
local token = os.getenv("KGPERF_TOKEN") or ""
local dir = os.getenv("KGPERF_DIR") or "."

local function lines(path)
  local out = {}
  local file = io.open(path, "r")
  if file == nil then return out end
  for line in file:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  file:close()
  return out
end

local types = { "Person", "Organization", "Place", "Event", "Document",
                "Product", "Concept", "Project", "Dataset", "Topic" }
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  ids = lines(dir .. "/ids.txt")
  hubs = lines(dir .. "/hubs.txt")
  writable = lines(dir .. "/writable.txt")
  nonce = os.getenv("KGPERF_NONCE") or "0"
  math.randomseed(os.time() + id * 7919)
  errors = 0
  n = 0
  cursor = nil
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

local function pick(list) return list[math.random(1, #list)] end

local function batch_body()
  local parts = {}
  local prefix = "b" .. nonce .. "-" .. id .. "-" .. n
  for i = 0, 999 do
    parts[#parts + 1] = string.format(
      '{"type":"%s","name":"%s %d","external_id":"%s:%d","confidence":0.5,"metadata":{"i":%d}}',
      types[i % 10 + 1], prefix, i, prefix, i, i)
  end
  local rels = {}
  for i = 0, 999 do
    rels[#rels + 1] = string.format(
      '{"source_external_id":"%s:%d","target_external_id":"%s:%d","type":"NEXT","confidence":0.7}',
      prefix, i, prefix, (i * 7 + 1) % 1000)
  end
  return '{"entities":[' .. table.concat(parts, ",") .. '],"relationships":[' .. table.concat(rels, ",") .. ']}'
end

function request()
  n = n + 1
  if workload == "get_entity" then
    return wrk.format("GET", "/v1/entities/" .. pick(ids), headers)
  elseif workload == "get_not_modified" then
    local h = { ["Authorization"] = headers["Authorization"], ["If-None-Match"] = '"1"' }
    return wrk.format("GET", "/v1/entities/" .. pick(ids), h)
  elseif workload == "list_by_type" then
    return wrk.format("GET", "/v1/entities?type=" .. pick(types) .. "&limit=50", headers)
  elseif workload == "neighbors_1" then
    return wrk.format("GET", "/v1/entities/" .. pick(ids) .. "/neighbors?depth=1", headers)
  elseif workload == "neighbors_2" then
    return wrk.format("GET", "/v1/entities/" .. pick(ids) .. "/neighbors?depth=2", headers)
  elseif workload == "neighbors_3_hub" then
    return wrk.format("GET", "/v1/entities/" .. pick(hubs) .. "/neighbors?depth=3&max_nodes=1000", headers)
  elseif workload == "post_entity" then
    local body = string.format(
      '{"type":"%s","name":"w%s-%d-%d","confidence":%.3f,"source":"perf","metadata":{"n":%d}}',
      pick(types), nonce, id, n, math.random(), n)
    return wrk.format("POST", "/v1/entities", headers, body)
  elseif workload == "post_relationship" then
    local a = math.random(1, #writable)
    local b = (a + math.random(1, #writable - 1) - 1) % #writable + 1
    local body = string.format(
      '{"source_id":"%s","target_id":"%s","type":"R%s_%d_%d","confidence":0.9}',
      writable[a], writable[b], nonce, id, n)
    return wrk.format("POST", "/v1/relationships", headers, body)
  elseif workload == "batch" then
    return wrk.format("POST", "/v1/batch", headers, batch_body())
  elseif workload == "login" then
    local body = string.format('{"email":"%s","password":"%s"}',
      os.getenv("KGPERF_EMAIL"), os.getenv("KGPERF_PASSWORD"))
    return wrk.format("POST", "/v1/auth/token", { ["Content-Type"] = "application/json" }, body)
  elseif workload == "changes" then
    local path = "/v1/changes?limit=100"
    if cursor ~= nil then path = path .. "&after=" .. cursor end
    return wrk.format("GET", path, headers)
  end
end

function response(status, headers_, body)
  if status < 200 or status > 399 then errors = errors + 1 end
  if workload == "changes" and body ~= nil then
    local next_cursor = string.match(body, '"next_cursor":"(%d+)"')
    -- At the end of the feed, start again from the beginning.
    if next_cursor == nil or next_cursor == cursor then cursor = nil else cursor = next_cursor end
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("errors") or 0) end
  local e = summary.errors
  io.write(string.format(
    '\nKGPERF {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,"bad_status":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, bad,
    e.connect + e.read + e.write + e.timeout))
end
