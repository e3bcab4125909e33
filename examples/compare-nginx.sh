#!/usr/bin/env bash
# GET /c/{token} against Debian's nginx serving the very same bytes from a file, both
# measured with wrk (-t2 -c64, 5 s) on loopback. Usage: compare-nginx.sh http://127.0.0.1:PORT/c/TOKEN
# Installs nginx and wrk with apt-get where missing. Prints requests/s and the ratio for
# each of ROUNDS (default 3) back-to-back pairs, then the median ratio: a shared machine's
# speed drifts over minutes, and a pair run seconds apart sees the same machine.
set -euo pipefail
url=${1:?usage: compare-nginx.sh KIOSK_PAGE_URL}
need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (apt-get)"
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
dir=$(mktemp -d)
trap 'kill $(cat "$dir/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/www"
curl -sf "$url" -o "$dir/www/page.html"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/nginx.conf" <<CONF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  server { listen 127.0.0.1:$port; root $dir/www; location / { default_type text/html; try_files /page.html =404; } }
}
CONF
/usr/sbin/nginx -c "$dir/nginx.conf"
sleep 0.3
rate() { wrk -t2 -c64 -d5s "$1" | awk '/Requests\/sec/ {print $2}'; }
bytes=$(stat -c %s "$dir/www/page.html")
ratios=()
for round in $(seq 1 "${ROUNDS:-3}"); do
  # Alternate which goes first, so neither always runs on a warmer machine.
  if [ $((round % 2)) -eq 1 ]; then
    nginx_rps=$(rate "http://127.0.0.1:$port/"); kiosk_rps=$(rate "$url")
  else
    kiosk_rps=$(rate "$url"); nginx_rps=$(rate "http://127.0.0.1:$port/")
  fi
  ratio=$(python3 -c "print(f'{$kiosk_rps/$nginx_rps:.2f}')")
  ratios+=("$ratio")
  echo "GET /c/{token} (${bytes} bytes), wrk -t2 -c64 -d5s, round $round: kiosk ${kiosk_rps}/s, nginx (same bytes from a file) ${nginx_rps}/s, ratio ${ratio}x"
done
echo "GET /c/{token} against nginx, median of ${#ratios[@]} rounds: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')x"
