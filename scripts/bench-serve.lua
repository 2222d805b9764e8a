-- wrk script of scripts/bench-serve.sh: filtered full-text searches (words + category + a
-- three-month range, 20 newest hits), a different one per request.
local words = {"tan+cong", "%22thay+doi+giao+dien%22", "ma+doc", "lua+dao", "ssh", "du+lieu", "portal", "web"}
local cats = {"deface", "malware", "phishing", "intrusion"}
local ranges = {
  {"2023-01-01", "2023-03-31"}, {"2023-04-01", "2023-06-30"}, {"2023-07-01", "2023-09-30"},
  {"2023-10-01", "2023-12-31"}, {"2024-01-01", "2024-03-31"}, {"2024-04-01", "2024-06-30"},
  {"2024-07-01", "2024-09-30"},
}
local n = 0
request = function()
  n = n + 1
  local r = ranges[(n % #ranges) + 1]
  local path = "/api/v1/incidents?q=" .. words[(n % #words) + 1]
    .. "&category=" .. cats[(n % #cats) + 1]
    .. "&from=" .. r[1] .. "&to=" .. r[2] .. "&limit=20"
  return wrk.format("GET", path)
end
