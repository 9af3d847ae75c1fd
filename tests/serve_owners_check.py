#!/usr/bin/env python3
"""serve_owners_check.py COMMAND ARGS: watchlists, alerts and audit rows of two teams and an
admin (e2e_serve_owners.sh). Checks fail with an assertion (exit 1).

  names FILE          (a GET /v1/watchlists answer) its lists' sorted (name, owner) pairs
  watched LABELS_CSV  the watchlist items: the first 200 Bitcoin addresses of the labels file
  stored-lists FILE   watchlists.json holds exactly teamA's list "w"
  alert-count FILE    (a GET /v1/alerts answer) the number of alerts
  team-alerts FILE    the same, asserting that every alert is owned by teamA
  audit FILE          audit.jsonl: the changes (POST, DELETE) are exactly A's create, B's
                      create, B's delete, B's second delete (404) and the admin's delete of A's
                      list, under three distinct key ids
"""
import sys


def names():
    import json, sys; print(sorted((w['name'], w.get('owner')) for w in json.load(open(sys.argv[1]))['watchlists']))


def watched():
    import json, sys
    rows = [l.split(",") for l in open(sys.argv[1]).read().splitlines()[1:]]
    print(json.dumps([{"kind": "address", "value": r[1]} for r in rows if r[0] == "btc"][:200]))


def stored_lists():
    import json, sys; w=json.load(open(sys.argv[1]))['watchlists']; assert [(x['name'], x['owner']) for x in w] == [('w', 'teamA')], w


def alert_count():
    import json, sys; print(len(json.load(open(sys.argv[1]))['alerts']))


def team_alerts():
    import json, sys; a=json.load(open(sys.argv[1]))['alerts']; assert all(x['owner']=='teamA' for x in a); print(len(a))


def audit():
    import json, sys
    rows = [json.loads(l) for l in open(sys.argv[1])]
    changes = [(r["owner"], r["method"], r["status"]) for r in rows if r["method"] in ("POST", "DELETE")]
    want = [("teamA", "POST", 201), ("teamB", "POST", 201), ("teamB", "DELETE", 200),
            ("teamB", "DELETE", 404), ("ops", "DELETE", 200)]
    assert changes == want, changes
    assert len({r["key_id"] for r in rows if r["method"] in ("POST", "DELETE")}) == 3


COMMANDS = {
    "names": names,
    "watched": watched,
    "stored-lists": stored_lists,
    "alert-count": alert_count,
    "team-alerts": team_alerts,
    "audit": audit,
}

if __name__ == "__main__":
    import subcommand

    subcommand.run(__doc__, COMMANDS)
