#!/usr/bin/env bash
# Blink's REST API with curl. A token first: `blink tokens create --user alice --scopes "link:*" --create-user`.
#   BLINK=https://s.example.com TOKEN=blink_… examples/api.sh
set -euo pipefail
BLINK="${BLINK:-http://localhost:3000}"
auth=(-H "Authorization: Bearer ${TOKEN:?set TOKEN to an API token}")

# Shorten a URL, with a custom slug and a per-link redirect status (the answer is the link, with its short URL).
curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
  -d '{"originalUrl": "https://example.com/launch", "hash": "launch", "redirectStatus": 302}' \
  "$BLINK/api/links"
echo

# Read it by either slug, and list links matching a search, newest first (react-admin's range and sort).
curl -fsS "${auth[@]}" "$BLINK/api/links/launch"
echo
curl -fsS "${auth[@]}" -G "$BLINK/api/links" --data-urlencode 'q=example' \
  --data-urlencode 'range=[0,9]' --data-urlencode 'sort=["createdAt","DESC"]' -D - -o /dev/null | grep -i content-range

# Change its title, then delete it (deleting needs a superuser).
curl -fsS "${auth[@]}" -X PUT -H 'Content-Type: application/json' \
  -d '{"meta": {"title": "Launch"}}' "$BLINK/api/links/launch"
echo
curl -fsS "${auth[@]}" -X DELETE "$BLINK/api/links/launch" -o /dev/null -w 'DELETE: %{http_code}\n' || true

# The redirect itself needs no token.
curl -sS -o /dev/null -w '%{http_code} -> %{redirect_url}\n' "$BLINK/launch"
