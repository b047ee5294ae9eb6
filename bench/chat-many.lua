-- wrk script: metered chat completions spread round-robin over many organisations' API keys
-- (KEYS_FILE: one key per line).
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
local next_key = 0
local body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],"max_tokens":64}'

request = function()
  next_key = next_key % #keys + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. keys[next_key]}
  return wrk.format("POST", nil, headers, body)
end
