#!/usr/bin/env bash
# Prints the path of a working Python 3.10 (Rasa 3.6 supports <= 3.10), or explains and fails.
set -u
try() { "$1" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo "$1"; exit 0; }; }
if command -v python3.10 >/dev/null 2>&1; then try "$(command -v python3.10)"; fi
if command -v pyenv >/dev/null 2>&1; then
  for p in "$(pyenv root)"/versions/3.10*/bin/python3.10; do [ -x "$p" ] && try "$p"; done
fi
for p in "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
  [ -x "$p" ] && try "$p"
done
echo "error: Python 3.10 not found. Rasa 3.6 needs it: install it (e.g. 'pyenv install 3.10') and retry." >&2
exit 1
