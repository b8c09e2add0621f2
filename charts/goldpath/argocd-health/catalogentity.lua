-- Argo CD health check for goldpath.dev/CatalogEntity.
--
-- Argo CD runs this with gopher-lua (Lua 5.1) in its sandbox: the object is
-- the global `obj`, only the base and table libraries are loaded (no
-- string.*, no math.*), and any field may be missing or of another type, so
-- every read below goes through `field`, `list` and `text`.
--
--   no status                         -> Progressing (waiting for the operator)
--   observedGeneration < generation   -> Progressing (waiting for the operator)
--   Stalled=True                      -> Degraded (Stalled message, naming the source)
--   health Failed                     -> Degraded (naming the failed source)
--   health Unknown                    -> Unknown
--   health InProgress                 -> Progressing (naming the source in progress)
--   health Current                    -> Healthy
--   no health (no sources), Ready=True -> Healthy
--   anything else                     -> Progressing

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

local function is_false(c)
  local s = field(c, "status")
  return s == "False" or s == false
end

local function with_detail(head, detail)
  if detail ~= nil then
    return head .. ": " .. detail
  end
  return head
end

-- "Application argocd/orders-api is Failed: <message>"
local function describe(source, index)
  local name = text(field(source, "name")) or ("#" .. tostring(index))
  local namespace = text(field(source, "namespace"))
  if namespace ~= nil then
    name = namespace .. "/" .. name
  end
  local kind = text(field(source, "kind")) or "source"
  local status = text(field(source, "status")) or "Unknown"
  local detail = text(field(source, "message")) or text(field(source, "reason"))
  if detail == status then
    detail = nil
  end
  return with_detail(kind .. " " .. name .. " is " .. status, detail)
end

-- The first source whose status is `wanted`, or, without `wanted`, the first
-- that is not Current; described, or nil when there is none.
local function find_source(sources, wanted)
  for i, source in ipairs(sources) do
    local s = field(source, "status")
    if (wanted ~= nil and s == wanted) or (wanted == nil and s ~= "Current") then
      return describe(source, i)
    end
  end
  return nil
end

local function count(t)
  local n = 0
  for _ in ipairs(t) do
    n = n + 1
  end
  return n
end

local hs = {}
local status = field(obj, "status")

if type(status) ~= "table" then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to roll up the entity's status"
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

local health = text(field(status, "health"))
local ready = condition(status, "Ready")
local reconciling = condition(status, "Reconciling")
local stalled = condition(status, "Stalled")
local sources = list(field(status, "sources"))

if is_true(stalled) then
  hs.status = "Degraded"
  local message = text(field(stalled, "message"))
    or with_detail("the entity is stalled", text(field(stalled, "reason")))
  local culprit = find_source(sources, "Failed") or find_source(sources, nil)
  if culprit ~= nil then
    message = message .. "; " .. culprit
  end
  hs.message = message
  return hs
end

if health == "Failed" then
  hs.status = "Degraded"
  hs.message = find_source(sources, "Failed")
    or text(field(ready, "message"))
    or "a source of the entity failed"
  return hs
end

if health == "Unknown" then
  hs.status = "Unknown"
  hs.message = find_source(sources, "Unknown")
    or text(field(ready, "message"))
    or "the status of a source of the entity cannot be read"
  return hs
end

if health == "InProgress" then
  hs.status = "Progressing"
  hs.message = find_source(sources, nil)
    or text(field(reconciling, "message"))
    or "a source of the entity is in progress"
  return hs
end

if health == "Current" then
  hs.status = "Healthy"
  local message = text(field(ready, "message"))
  if is_false(ready) then
    message = with_detail("every source is current, but Ready is False", message)
  elseif message == nil then
    local n = count(sources)
    if n == 0 then
      message = "the entity has no sources to roll up"
    elseif n == 1 then
      message = "1 source is current"
    else
      message = tostring(n) .. " sources are current"
    end
  end
  hs.message = message
  return hs
end

if health ~= nil then
  hs.status = "Unknown"
  hs.message = "health " .. health .. " is not one goldpath reports"
  return hs
end

-- No roll-up health: an entity with nothing to roll up.
if is_true(ready) then
  hs.status = "Healthy"
  hs.message = text(field(ready, "message")) or "the entity is ready"
  return hs
end

hs.status = "Progressing"
if is_true(reconciling) and text(field(reconciling, "message")) ~= nil then
  hs.message = text(field(reconciling, "message"))
elseif text(field(ready, "message")) ~= nil then
  hs.message = text(field(ready, "message"))
else
  hs.message = "waiting for the operator to report the entity's health"
end
return hs
