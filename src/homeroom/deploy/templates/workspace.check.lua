-- homeroom's pass check for HAProxy in front of a workspace (docs/operations.md#in-front-of-a-workspace).
-- Made by `homeroom workspace lua` (homeroom/deploy/workspace.py). Loaded by `lua-load` in
-- workspace.cfg; `http-request lua.homeroom_check <gate> <homeroom host:port>` asks
-- GET /gate/<gate>/check with core.httpclient (HAProxy >= 2.6) and leaves the answer in
-- transaction variables for the configuration's rules:
--   txn.hr_status  "204", "401", "503", ... or "error" (homeroom could not be asked)
--   txn.hr_wait    on 401: the waiting page's URL (X-Homeroom-Wait)
--   txn.hr_cookie  on 204 with a renewed pass: its Set-Cookie
--   txn.hr_retry   on 503: Retry-After

local TIMEOUT_MS = 2000

-- The first value of a header in an httpclient answer (names are lower case; the values'
-- table is indexed from 0 in HAProxy's tables, so take whichever comes).
local function first(headers, name)
  local values = headers and headers[name]
  if values == nil then return nil end
  if type(values) == "string" then return values end
  for _, value in pairs(values) do return value end
  return nil
end

-- Every Cookie header of the request, joined as one (HTTP/2 clients may send several).
local function cookies(txn)
  local all = txn.http:req_get_headers()["cookie"]
  if all == nil then return nil end
  local parts = {}
  for i = 0, #all do
    if all[i] ~= nil then parts[#parts + 1] = all[i] end
  end
  return table.concat(parts, "; ")
end

local function check(txn, gate, server)
  local headers = {
    ["x-original-uri"] = { txn.sf:pathq() },
    ["x-forwarded-for"] = { txn.sf:src() },
  }
  local host = txn.sf:req_hdr("host")
  if host ~= nil then headers["host"] = { host } end
  local cookie = cookies(txn)
  if cookie ~= nil then headers["cookie"] = { cookie } end
  local client = core.httpclient()
  local ok, res = pcall(client.get, client, {
    url = "http://" .. server .. "/gate/" .. gate .. "/check",
    headers = headers,
    timeout = TIMEOUT_MS,
  })
  if not ok or res == nil or res.status == nil or res.status == 0 then
    txn:set_var("txn.hr_status", "error")
    return
  end
  txn:set_var("txn.hr_status", tostring(res.status))
  local wait = first(res.headers, "x-homeroom-wait")
  if wait ~= nil then txn:set_var("txn.hr_wait", wait) end
  local cookie_back = first(res.headers, "set-cookie")
  if cookie_back ~= nil then txn:set_var("txn.hr_cookie", cookie_back) end
  local retry = first(res.headers, "retry-after")
  if retry ~= nil then txn:set_var("txn.hr_retry", retry) end
end

core.register_action("homeroom_check", { "http-req" }, check, 2)
