# evtx_dump JSON → the flat layout rsigma expects (Sigma field names at the top level):
# Event.System scalars, `#text` of System objects under their own name and their attributes as
# `Name_Attribute` (Provider_Name, …), EventData and UserData members. Mirrors what
# canhgac-detect's Evtx layout reads, so both engines see the same field values.
.Event as $e
| (($e.System // {}) | to_entries | map(
    if (.value | type) == "object" then
      .key as $k
      | (if .value | has("#text") then [{key: $k, value: .value["#text"]}] else [] end)
        + ((.value["#attributes"] // {}) | to_entries | map({key: ($k + "_" + .key), value: .value}))
    else [.] end) | add | from_entries)
+ (if ($e.EventData | type) == "object" then
     ($e.EventData | del(.["#attributes"])
      | if (.Data | type) == "object" and (.Data | has("#text")) then .Data = .Data["#text"] else . end)
   else {} end)
+ ((($e.UserData // {}) | [.[] | objects | del(.["#attributes"])] | add) // {})
