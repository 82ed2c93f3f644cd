-- wrk script of the load harness: every request is an Alertmanager webhook notification (payload
-- version 4) of a group of its own, with alerts of their own, as loadtest.NewNotification builds
-- them. Arguments after "--": the run name and the alerts per notification.
-- done() prints one line "LOADTEST {json}" with the counts and latency percentiles.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  run = args[1] or "wrk"
  per = tonumber(args[2] or "1")
  n = 0
  starts = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 60)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "Alertmanager/0.27.0"
end

function request()
  n = n + 1
  local group = string.format("%s-t%d-%d", run, tid, n)
  local alerts = {}
  for j = 0, per - 1 do
    local id = string.format("%s-%d", group, j)
    alerts[#alerts + 1] = string.format(
      '{"status":"firing","labels":{"alertname":"LoadTest","severity":"warning","group":"%s","alert":"%s"},' ..
      '"annotations":{"summary":"load alert %s"},"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z",' ..
      '"generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"%04x%012x"}',
      group, id, id, starts, tid, n * per + j)
  end
  local body = string.format(
    '{"version":"4","groupKey":"{}/{alertname=\\"LoadTest\\"}:{group=\\"%s\\"}","truncatedAlerts":0,' ..
    '"status":"firing","receiver":"smartcloudops","groupLabels":{"group":"%s"},' ..
    '"commonLabels":{"alertname":"LoadTest","severity":"warning","group":"%s"},"commonAnnotations":{},' ..
    '"externalURL":"http://127.0.0.1:9093","alerts":[%s]}',
    group, group, group, table.concat(alerts, ","))
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOADTEST {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"threads":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, #threads))
end
