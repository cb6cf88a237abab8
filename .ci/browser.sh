#!/usr/bin/env bash
# Debian's chromium for `make e2e` (Playwright drives it; browser downloads fail here), plus a CJK
# font so screenshots of the Chinese notebooks are legible. Installs with apt-get when run as root.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing ${need[*]} with apt-get (once)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
elif command -v chromium >/dev/null 2>&1; then
  echo "note: no CJK font; screenshots show boxes. sudo apt-get install -y fonts-wqy-microhei"
else
  echo "error: make e2e needs Debian's chromium. Run as root, or:" >&2
  echo "       sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
