//! Lua helpers for the server-side scripts that must read and act in one atomic step.
//!
//! Stream ids are compared as text (length, then bytes) because their millisecond and sequence parts
//! are 64-bit and Lua's numbers are doubles.

/// Prepended to every script: `idcmp(a, b)`, `idnext(id)`, `field(flat_reply, name)`.
pub(crate) const HELPERS: &str = r#"
local function idparts(id)
  local dash = string.find(id, '-', 1, true)
  if dash then return string.sub(id, 1, dash - 1), string.sub(id, dash + 1) end
  return id, '0'
end
local function numcmp(a, b)
  if #a ~= #b then if #a < #b then return -1 else return 1 end end
  if a == b then return 0 end
  if a < b then return -1 else return 1 end
end
local function idcmp(a, b)
  local am, as = idparts(a)
  local bm, bs = idparts(b)
  local c = numcmp(am, bm)
  if c ~= 0 then return c end
  return numcmp(as, bs)
end
local function idnext(id)
  local ms, seq = idparts(id)
  local n = tonumber(seq)
  if n and n < 9007199254740991 then return ms .. '-' .. string.format('%d', n + 1) end
  return id
end
local function field(flat, name)
  for i = 1, #flat, 2 do
    if flat[i] == name then return flat[i + 1] end
  end
  return nil
end
"#;
