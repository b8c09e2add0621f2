-- Argo CD health check for goldpath.dev/ScaffoldRequest.
--
-- Argo CD runs this with gopher-lua (Lua 5.1) in its sandbox: the object is
-- the global `obj`, only the base and table libraries are loaded (no
-- string.*, no math.*), and any field may be missing or of another type, so
-- every read below goes through `field`, `list` and `text`.
--
--   no status                        -> Progressing (waiting for the operator)
--   observedGeneration < generation  -> Progressing (waiting for the operator)
--   Stalled=True or phase Failed     -> Degraded (Stalled message, or the failed step)
--   phase Cancelled                  -> Suspended (stopped by spec.cancel)
--   phase Succeeded and Ready=True   -> Healthy
--   anything else                    -> Progressing (naming the current step)

local function field(t, key)
  if type(t) == "table" then
    return t[key]
  end
  return nil
end

local function list(v)
  if type(v) == "table" then
    return v
  end
  return {}
end

-- A printable, non-empty string, or nil.
local function text(v)
  local t = type(v)
  if t == "string" then
    if v == "" then
      return nil
    end
    return v
  end
  if t == "number" or t == "boolean" then
    return tostring(v)
  end
  return nil
end

local function condition(status, kind)
  for _, c in ipairs(list(field(status, "conditions"))) do
    if field(c, "type") == kind then
      return c
    end
  end
  return nil
end

local function is_true(c)
  local s = field(c, "status")
  return s == "True" or s == true
end

local function step_name(step, index)
  local name = "step " .. (text(field(step, "id")) or ("#" .. tostring(index)))
  local action = text(field(step, "action"))
  if action ~= nil then
    name = name .. " (" .. action .. ")"
  end
  return name
end

local function with_detail(head, detail)
  if detail ~= nil then
    return head .. ": " .. detail
  end
  return head
end

local hs = {}
local status = field(obj, "status")

if type(status) ~= "table" then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to pick up the request"
  return hs
end

local generation = tonumber(field(field(obj, "metadata"), "generation"))
local observed = tonumber(field(status, "observedGeneration"))
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(generation)
    .. " (status is for generation " .. tostring(observed) .. ")"
  return hs
end

local phase = text(field(status, "phase"))
local ready = condition(status, "Ready")
local reconciling = condition(status, "Reconciling")
local stalled = condition(status, "Stalled")

-- The first failed step, and the current one: the first that has neither
-- succeeded nor been skipped.
local failed, failed_index, current, current_index
for i, step in ipairs(list(field(status, "steps"))) do
  local step_phase = field(step, "phase")
  if failed == nil and step_phase == "Failed" then
    failed, failed_index = step, i
  end
  if current == nil and step_phase ~= "Succeeded" and step_phase ~= "Skipped" then
    current, current_index = step, i
  end
end

if is_true(stalled) or phase == "Failed" then
  hs.status = "Degraded"
  local message = nil
  if is_true(stalled) then
    message = text(field(stalled, "message"))
  end
  if message == nil and failed ~= nil then
    message = with_detail(step_name(failed, failed_index) .. " failed", text(field(failed, "message")))
  end
  if message == nil and is_true(stalled) then
    message = with_detail("the request is stalled", text(field(stalled, "reason")))
  end
  hs.message = message or "the request failed"
  return hs
end

if phase == "Cancelled" then
  hs.status = "Suspended"
  hs.message = text(field(ready, "message")) or "the request was cancelled"
  return hs
end

if phase == "Succeeded" and is_true(ready) then
  hs.status = "Healthy"
  local message = text(field(ready, "message"))
  if message == nil then
    message = with_detail("the request succeeded", text(field(status, "repository")))
  end
  hs.message = message
  return hs
end

hs.status = "Progressing"
if current ~= nil then
  local head = step_name(current, current_index) .. " is " .. (text(field(current, "phase")) or "Pending")
  hs.message = with_detail(head, text(field(current, "message")))
elseif is_true(reconciling) and text(field(reconciling, "message")) ~= nil then
  hs.message = text(field(reconciling, "message"))
elseif phase == "Succeeded" then
  hs.message = with_detail("the request succeeded; waiting for condition Ready", text(field(ready, "message")))
elseif phase ~= nil then
  hs.message = "the request is " .. phase
else
  hs.message = "waiting for the operator to report progress"
end
return hs
