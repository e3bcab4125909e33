#!/usr/bin/env bash
# Optional cross-check against emupos (PyPI, an ESC/POS printer emulator at the wire level).
# Not part of `cargo test`: emupos needs Python >= 3.13, which not every machine has.
#
#   bash printer/tests/emupos-check.sh
#
# Sends the golden jobs and a rendered ticket over TCP through our driver, then checks that emupos
# parsed every command, saw the native QR payload, printed the name, and that zbarimg decodes the
# QR from emupos's own rendering; also drives paper-out / cover-open / offline faults and checks
# Driver::status. Uses only 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
py=${PY313:-}
if [ -z "$py" ]; then
  for c in python3.13 python3.14 /root/.pyenv/versions/3.1[3-9]*/bin/python; do
    # pyenv shims exist even when the version is not selected, so try each one.
    if "$c" -c 'import sys; assert sys.version_info >= (3, 13)' >/dev/null 2>&1; then
      py=$(command -v "$c"); break
    fi
  done
fi
if [ -z "$py" ]; then
  echo "emupos-check: SKIPPED - needs Python >= 3.13 (set PY313=/path/to/python3.13)" >&2
  exit 0
fi
venv="$target/emupos-venv"
if [ ! -x "$venv/bin/emupos" ]; then
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q emupos==0.4.0
fi
command -v zbarimg >/dev/null || { echo "emupos-check: apt-get install zbar-tools" >&2; exit 1; }

work=$(mktemp -d)
api_port=18765
lp_port=19100
cat > "$work/emupos.yaml" <<YAML
schema: 1
api: { host: 127.0.0.1, port: $api_port }
devices:
  - id: front
    type: printer
    profile: epson-tm-t20iii
    connections:
      - tcp: { host: 127.0.0.1, port: $lp_port }
    receipts_dir: $work/receipts
YAML
(cd "$work" && exec "$venv/bin/emupos" run --config emupos.yaml >"$work/run.log" 2>&1) &
emu=$!
trap 'kill $emu 2>/dev/null || true; rm -rf "$work"' EXIT
export EMUPOS_API=http://127.0.0.1:$api_port
for _ in $(seq 50); do "$venv/bin/emupos" devices >/dev/null 2>&1 && break; sleep 0.2; done

CARGO_TARGET_DIR=$target cargo build -q --manifest-path "$root/Cargo.toml" -p certstamp-printer --example printer
cli="$target/debug/examples/printer"
uri=tcp://127.0.0.1:$lp_port
url=https://certstamp.example/c/3f2a91c0d4e5b6a7
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

check "status Ready" '[ "$("$cli" status $uri)" = Ready ]'
for fault in paper-out cover-open offline; do
  "$venv/bin/emupos" fault set front $fault >/dev/null
  want=$(case $fault in paper-out) echo PaperOut;; cover-open) echo CoverOpen;; offline) echo Offline;; esac)
  check "status $want" '[ "$("$cli" status $uri)" = $want ]'
  check "send refused on $fault" '! "$cli" send $uri 80mm 2>/dev/null'
  "$venv/bin/emupos" fault clear front $fault >/dev/null
done

n=0
for job in 80mm 58mm; do
  "$cli" send $uri $job >/dev/null
  n=$((n + 1))
done
"$cli" send $uri 58mm "محمد بن علي" >/dev/null
n=$((n + 1))
for _ in $(seq 50); do [ "$(ls "$work/receipts"/*.png 2>/dev/null | wc -l)" -ge $n ] && break; sleep 0.2; done
check "no unknown commands" '! grep -qi unknown "$work/run.log"'
check "$n receipts" '[ "$(ls "$work/receipts"/*.png | wc -l)" -eq $n ]'
first=$(ls "$work/receipts"/*.txt | sort | head -1)
check "80mm native QR payload" 'grep -qF "[qr $url]" "$first"'
check "80mm name as native text" 'grep -qx "Ada Lovelace" "$first"'
for png in "$work/receipts"/*.png; do
  check "zbarimg $(basename "$png")" '[ "$(zbarimg -q --raw "$png" 2>/dev/null)" = $url ]'
done
[ $fail -eq 0 ] && echo "emupos-check: all passed" || { echo "emupos-check: FAILED"; cat "$work/run.log"; exit 1; }
