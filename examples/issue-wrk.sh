#!/usr/bin/env bash
# POST /issue (durable 303) measured with wrk, as issue 10 measured it: -t2 -c64 -d5s on
# loopback, every request a new visitor. One browser session's CSRF cookie and token are
# fetched first with curl and reused (the token is an HMAC of the session id, valid for
# every form of that session), so wrk's C client, not a Rust client, generates the load.
# Usage: issue-wrk.sh http://127.0.0.1:PORT [CONNECTIONS]
# Installs wrk with apt-get where missing. Prints requests/s, p50/p90/p99 and errors.
set -euo pipefail
base=${1:?usage: issue-wrk.sh KIOSK_BASE_URL [CONNECTIONS]}
conns=${2:-64}
if ! command -v wrk >/dev/null; then
  echo "installing wrk (apt-get)"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
curl -sf -c "$dir/jar" "$base/" -o "$dir/form.html"
sid=$(awk '$6 ~ /certstamp_sid$/ {print $7}' "$dir/jar")
csrf=$(grep -o 'name="csrf" value="[^"]*"' "$dir/form.html" | head -1 | sed 's/.*value="//; s/"$//')
[ -n "$sid" ] && [ -n "$csrf" ] || { echo "issue-wrk: no session cookie or CSRF token from $base/" >&2; exit 1; }
cat > "$dir/issue.lua" <<'LUA'
-- Each wrk thread numbers its own visitors; the run id keeps emails new across runs.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  sid, csrf, run = args[1], args[2], args[3]
  n = 0
end
function request()
  n = n + 1
  local body = "name=Wrk+Visitor&email=wrk-" .. run .. "-" .. tid .. "-" .. n ..
    "%40example.org&consent=yes&csrf=" .. csrf
  return wrk.format("POST", "/issue", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "certstamp_sid=" .. sid,
  }, body)
end
LUA
out=$(wrk -t2 -c"$conns" -d5s --latency -s "$dir/issue.lua" "$base" -- "$sid" "$csrf" "$RANDOM$RANDOM")
rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
p90=$(awk '$1 == "90%" {print $2}' <<<"$out")
p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
bad=$(awk '/Non-2xx or 3xx/ {print $NF}' <<<"$out")
errs=$(awk '/Socket errors/ {print $0}' <<<"$out")
echo "POST /issue (durable 303), wrk -t2 -c$conns -d5s: ${rps}/s, p50 $p50, p90 $p90, p99 $p99, non-303 ${bad:-0}${errs:+, $errs}"
