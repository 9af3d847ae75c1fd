#!/usr/bin/env python3
"""actor_check.py COMMAND ARGS: the answers by actor (issue 14) checked for e2e_actor.sh.

Every figure is recomputed here from the per-address lists of the same document joined with the
label files (CSV, read with the csv module), not read back from the tool's by_actor answer:

  trace T.json CSV...            a Bitcoin trace: by_actor against the endpoints and the unspent
                                 edges grouped by the actor the label files give each address
                                 (actor column, else the label's name; via an entity: the stop
                                 label's address); totals against the seed
  pick T.json N                  the N largest unspent holder addresses without any label
  truth T.json TRUTH             the scenario's cash-out services (truth.jsonl endpoints of 1%
                                 of the stolen value or more) are all named among the actors
  html FILE STRING...            the page parses, has no script, no element with an event
                                 handler or a URL attribute, and shows each STRING as text;
                                 --nodes: each STRING also names an SVG node
  dot FILE STRING...             every line of the DOT file tokenizes (quoted strings closed,
                                 escapes valid) and each STRING is the first line of a node label
  screen-array J N               J is one JSON array of N screening documents
  reasons J CSV...               no reason has "()" and every "nearest ADDR (X)" names the
                                 actor the label files give ADDR
  etrace E.json CSV              an EVM trace: by_actor per asset against endpoints and held
                                 taint, sums against the totals
  xtrace X.json CSV              a cross-chain trace: per link, actors against its addresses
                                 and the label files; btc_by_actor the sum over links
  schema J NAME [--each]         J (each item of the array J) against docs/openapi.yaml's
                                 schema NAME (OpenAPI's nullable as a null type); NAME Actor:
                                 the document's by_actor rows
"""
import csv
import json
import math
import re
import sys
from collections import defaultdict
from html.parser import HTMLParser

fails = []


def check(what, got, want):
    if got != want:
        fails.append(f"{what}: got {got!r}, want {want!r}")


def labels_of(paths, chain="btc"):
    """address -> [{category, actor, name}] from label CSV files (0x addresses lowercased)."""
    out = defaultdict(list)
    for p in paths:
        for row in csv.DictReader(open(p, newline='')):
            if row['chain'] != chain: continue
            a = row['address'].lower() if row['address'].startswith('0x') else row['address']
            out[a].append({'category': row['category'], 'actor': row.get('actor') or '',
                           'name': row.get('label') or row.get('name') or ''})
    return out


def decide(ls, category=None):
    """The oracle's actor of labels ls: (kind, key): ('actor', X), ('unnamed', CATEGORY) or
    ('unlabelled', None). Ambiguous data (two actors) is a test-data error."""
    if not ls: return ('unlabelled', None)
    actors = sorted({l['actor'] for l in ls if l['actor']})
    if len(actors) > 1: raise SystemExit(f"test data: several actors {actors}")
    if actors: return ('actor', actors[0])
    names = sorted({l['name'] for l in ls if l['name']})
    if names: return ('actor', names[0])
    return ('unnamed', category or ls[0]['category'])


def key_of(row):
    """The same key for a by_actor row of the document."""
    if row['actor'] is not None: return ('actor', row['actor'])
    if row['actor_from'] == 'unnamed': return ('unnamed', row['category'])
    check("actor_from of a row without a name", row['actor_from'], 'unlabelled')
    return ('unlabelled', None)


def compare_groups(what, rows, want, seeded):
    """rows: by_actor rows of one role; want: key -> {addr: (amount, deposits, hops, cat)}."""
    got = {}
    for r in rows:
        k = key_of(r)
        if k in got: fails.append(f"{what}: actor {k} listed twice")
        got[k] = r
    check(f"{what}: actors", sorted(got, key=str), sorted(want, key=str))
    for k, addrs in want.items():
        r = got.get(k)
        if not r: continue
        amount = sum(a[0] for a in addrs.values())
        check(f"{what} {k}: amount", r['amount'], amount)
        check(f"{what} {k}: deposits", r['deposits'], sum(a[1] for a in addrs.values()))
        check(f"{what} {k}: deposit_addresses", r['deposit_addresses'], len(addrs))
        check(f"{what} {k}: hops", r['hops'], min(a[2] for a in addrs.values()))
        listed = {a['address']: (a['amount'], a['deposits'], a['hops']) for a in r['addresses']}
        check(f"{what} {k}: addresses", listed, {a: v[:3] for a, v in addrs.items()})
        if seeded and not math.isclose(r['share'], amount / seeded, rel_tol=1e-9, abs_tol=1e-12):
            fails.append(f"{what} {k}: share {r['share']} != {amount}/{seeded}")
        amounts = [r2['amount'] for r2 in r['addresses']]
        check(f"{what} {k}: addresses largest first", amounts, sorted(amounts, reverse=True))
        if r['role'] == 'endpoint':
            top = max(addrs.values(), key=lambda v: v[0])
            if r['category'] not in {v[3] for v in addrs.values() if v[0] == top[0]}:
                fails.append(f"{what} {k}: category {r['category']} is not its largest address's")


def cmd_trace(doc_path, *csvs):
    d = json.load(open(doc_path))
    labels = labels_of(csvs)
    t = d['totals']
    # endpoints: the address's own labels, or (via its entity) the stop label's address's
    want = defaultdict(dict)
    for e in d['endpoints']:
        src = e['address'] if e['via'] == 'address' else e['labels'][0]['address']
        k = decide(labels[src], e['category'])
        want[k][e['address']] = (e['amount'], e['deposits'], len(e['path']), e['category'])
        check(f"endpoint {e['address']}: actor", (e['actor'] if e['actor'] is not None
                                                  else ('unnamed', e['category'])),
              k[1] if k[0] == 'actor' else k)
    rows = [r for r in d['by_actor'] if r['role'] == 'endpoint']
    compare_groups("endpoints", rows, want, t['seeded'])
    # holders: the unspent edges per address, named by the address's own labels
    depth = {x['txid']: x['depth'] for x in d['txs']}
    held = defaultdict(lambda: [0, 0, 1 << 30])
    for x in d['edges']:
        if x['fate'] != 'unspent': continue
        h = held[x['address']]
        h[0] += x['value']
        h[1] += 1
        h[2] = min(h[2], depth[x['from_tx']] if x['from_tx'] else 0)
    clustered = d['graph']['level'] == 'entity'
    hrows = [r for r in d['by_actor'] if r['role'] == 'holder']
    if not clustered:
        hwant = defaultdict(dict)
        for a, (v, n, hops) in held.items():
            hwant[decide(labels.get(a, []))][a] = (v, n, hops, None)
        compare_groups("holders", hrows, hwant, t['seeded'])
    else:  # named through an entity maybe: an "(unlabelled)" holder has no label of its own
        for r in hrows:
            if r['actor_from'] == 'unlabelled':
                for a in r['addresses']:
                    if labels.get(a['address']): fails.append(f"unlabelled holder {a} has labels")
        check("holders: addresses", sorted(a['address'] or '' for r in hrows for a in r['addresses']),
              sorted(a or '' for a in held))
    # totals: actors account for every satoshi that reached an endpoint or stayed unspent
    check("endpoint actors sum to to_endpoints", sum(r['amount'] for r in rows), t['to_endpoints'])
    check("holder actors sum to unspent", sum(r['amount'] for r in hrows), t['unspent'])
    rest = sum(v for k, v in t.items() if k not in ('seeded', 'poison_added', 'balanced'))
    check("the buckets sum to the seed", rest, t['seeded'] + t['poison_added'])
    order = [(r['role'] != 'endpoint', -r['amount']) for r in d['by_actor']]
    check("actors in order", order, sorted(order))
    if not any(r['actor_from'] == 'unlabelled' for r in hrows) and held:
        if any(not labels.get(a) for a in held) and not clustered:
            fails.append("no (unlabelled) holder although unlabelled addresses hold taint")


def cmd_pick(doc_path, n, *csvs):
    d = json.load(open(doc_path))
    labels = labels_of(csvs)
    held = defaultdict(int)
    for x in d['edges']:
        if x['fate'] == 'unspent' and x['address'] and not labels.get(x['address']):
            held[x['address']] += x['value']
    for a, _ in sorted(held.items(), key=lambda kv: (-kv[1], kv[0]))[:int(n)]:
        print(a)


def cmd_truth(doc_path, truth_path):
    d = json.load(open(doc_path))
    seeds = set(d['seeds'])
    names = {r['actor'] for r in d['by_actor'] if r['role'] == 'endpoint'}
    for l in open(truth_path):
        s = json.loads(l)
        if s.get('kind') != 'scenario' or not seeds & set(s['sources']): continue
        for e in s['endpoints']:
            if e['type'] != 'user' and e['value'] * 100 >= s['stolen']:
                if e['name'] not in names: fails.append(f"truth endpoint {e['name']} not named")


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.svg_text, self.stack, self.bad = [], [], [], []

    def handle_starttag(self, tag, attrs):
        if tag in ('script', 'img', 'iframe', 'object', 'embed', 'a', 'link'):
            self.bad.append(f"<{tag}> element")
        for k, v in attrs:
            if k.startswith('on') or k in ('href', 'src', 'xlink:href', 'action', 'formaction'):
                self.bad.append(f"attribute {k}={v!r} on <{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag: self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self.stack and self.stack[-1] == 'text': self.svg_text.append(data)


def cmd_html(path, *strings):
    nodes = strings and strings[0] == '--nodes'
    strings = strings[1:] if nodes else strings
    p = Page()
    p.feed(open(path, encoding='utf-8').read())
    p.close()
    fails.extend(p.bad)
    text = ''.join(p.text)
    for s in strings:
        if s not in text: fails.append(f"{s!r} not shown as text")
        # an SVG box holds about 27 characters: the start of the actor names a node
        if nodes and not any(t.startswith(s[:14]) for t in p.svg_text):
            fails.append(f"no SVG node named {s!r}")


DOT_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?|->|[{}\[\];=,]|\s+')


def cmd_dot(path, *strings):
    labels = []
    for n, line in enumerate(open(path, encoding='utf-8'), 1):
        line = line.rstrip('\n')
        pos, toks = 0, []
        while pos < len(line):
            m = DOT_TOKEN.match(line, pos)
            if not m:
                fails.append(f"{path}:{n}: cannot tokenize at {line[pos:pos + 30]!r}")
                break
            if not m.group().isspace(): toks.append(m.group())
            pos = m.end()
        for i, tok in enumerate(toks):
            if tok == 'label' and i + 2 < len(toks) and toks[i + 1] == '=':
                v = toks[i + 2]
                if v.startswith('"'):
                    labels.append(re.sub(r'\\(.)', lambda m: '\n' if m.group(1) == 'n' else m.group(1), v[1:-1]))
    firsts = {l.split('\n')[0] for l in labels}
    for s in strings:
        if s not in firsts: fails.append(f"{s!r} names no DOT node")


def cmd_screen_array(path, n):
    d = json.load(open(path))
    if not isinstance(d, list): fails.append(f"not a JSON array but {type(d).__name__}")
    elif len(d) != int(n): fails.append(f"{len(d)} documents, want {n}")
    else:
        for i, x in enumerate(d):
            if 'risk' not in x: fails.append(f"item {i} is not a screening: {list(x)}")


def cmd_reasons(path, *csvs):
    labels = labels_of(csvs)
    d = json.load(open(path))
    docs = d if isinstance(d, list) else [d]
    seen = 0
    for x in docs:
        for r in x['risk']['reasons']:
            if '()' in r: fails.append(f"empty brackets: {r}")
            m = re.search(r'nearest (\S+)(?: \((.*)\))?$', r)
            if not m: continue
            seen += 1
            k = decide(labels.get(m.group(1), []))
            want = k[1] if k[0] == 'actor' else None
            check(f"reason {r!r}: actor", m.group(2), want)
    if not seen: fails.append("no reason names a nearest endpoint")


def cmd_etrace(path, labels_csv):
    d = json.load(open(path))
    labels = labels_of([labels_csv], 'eth')
    for asset, t in d['totals'].items():
        seeded = int(t['seeded'])
        for role, bucket in (('endpoint', 'to_endpoints'), ('holder', 'held')):
            want = defaultdict(dict)
            if role == 'endpoint':
                for e in d['endpoints']:
                    if e['asset'] != asset: continue
                    k = decide(labels[e['address'].lower()], e['category'])
                    want[k][e['address']] = (int(e['amount']), e['deposits'], len(e['path']) - 1,
                                             e['category'])
            else:
                dep = defaultdict(int)
                for g in d['edges']:
                    if g['fate'] == 'followed' and g['asset'] == asset and int(g['taint']):
                        dep[g['to']] += 1
                for a in d['addresses']:
                    x = a['assets'].get(asset)
                    if x and int(x['held']):
                        want[decide(labels.get(a['address'].lower(), []))][a['address']] = (
                            int(x['held']), dep[a['address']], a['depth'] or 0, None)
            rows = [dict(r, amount=int(r['amount']),
                         addresses=[dict(a, amount=int(a['amount'])) for a in r['addresses']])
                    for r in d['by_actor'] if r['asset'] == asset and r['role'] == role]
            compare_groups(f"{asset} {role}s", rows, want, seeded)
            check(f"{asset} {role} actors sum to {bucket}", sum(r['amount'] for r in rows),
                  int(t[bucket]))


def cmd_xtrace(path, *csvs):
    d = json.load(open(path))
    labels = labels_of(csvs)
    total = defaultdict(lambda: [0, 0, 0, set(), 1 << 30, 0])
    links = 0
    for h in d['hops']:
        for l in h['links']:
            b = l.get('btc')
            if not b: continue
            links += 1
            for r in b['by_actor']:
                k = key_of(r)
                addrs = r['addresses']
                check(f"link {k}: deposits", r['deposits'], sum(a['deposits'] for a in addrs))
                check(f"link {k}: deposit_addresses", r['deposit_addresses'], len(addrs))
                check(f"link {k}: hops", r['hops'], min(a['hops'] for a in addrs))
                for a in addrs:
                    check(f"link {k}: actor of {a['address']}", decide(labels[a['address']])[1], k[1])
                t = total[k]
                t[0] += r['amount']
                t[1] += math.floor(r['amount'] * l['confidence'])
                t[2] += r['deposits']
                t[3] |= {a['address'] for a in addrs}
                t[4] = min(t[4], r['hops'])
                t[5] += 1
            cats = sum(c['amount'] for c in b['by_category'])
            acts = sum(r['amount'] for r in b['by_actor'])
            if not (acts <= cats + len(b['by_actor']) and cats <= acts + len(b['by_category']) + len(b['by_actor'])):
                fails.append(f"link: actors {acts} against categories {cats}")
    if not links: fails.append("no link followed into Bitcoin")
    got = {key_of(r): r for r in d['btc_by_actor']}
    check("btc_by_actor: actors", sorted(got, key=str), sorted(total, key=str))
    for k, t in total.items():
        r = got.get(k)
        if not r: continue
        check(f"btc {k}", (r['amount'], r['expected'], r['deposits'], r['deposit_addresses'],
                           r['hops'], r['links']), (t[0], t[1], t[2], len(t[3]), t[4], t[5]))


def openapi_schema(name):
    """docs/openapi.yaml's schema NAME as JSON Schema (OpenAPI 3.0's nullable as a null type)."""
    import yaml
    spec = yaml.safe_load(open('docs/openapi.yaml'))

    def conv(x):
        if isinstance(x, dict):
            y = {k: conv(v) for k, v in x.items() if k != 'nullable'}
            if x.get('nullable') and 'type' in y: y['type'] = [y['type'], 'null']
            return y
        return [conv(v) for v in x] if isinstance(x, list) else x
    return {'components': conv(spec['components']), '$ref': f'#/components/schemas/{name}'}


def cmd_schema(path, name, *rest):
    """Every document in the JSON file (an array's items with --each) against the schema;
    --by-actor: the document's by_actor against Actor (a trace answer)."""
    import jsonschema
    d = json.load(open(path))
    docs = d if '--each' in rest else [d]
    if name == 'Actor':
        docs = [r for x in docs for r in x['by_actor']]
    for x in docs:
        for e in jsonschema.Draft7Validator(openapi_schema(name)).iter_errors(x):
            fails.append(f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
    if not docs: fails.append("nothing to validate")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {'trace': cmd_trace, 'pick': cmd_pick, 'truth': cmd_truth, 'html': cmd_html,
     'dot': cmd_dot, 'screen-array': cmd_screen_array, 'reasons': cmd_reasons,
     'etrace': cmd_etrace, 'xtrace': cmd_xtrace, 'schema': cmd_schema}[cmd](*args)
    for f in fails[:20]:
        print(f"{cmd}: {f}", file=sys.stderr)
    if len(fails) > 20: print(f"{cmd}: ... {len(fails) - 20} more", file=sys.stderr)
    sys.exit(1 if fails else 0)


if __name__ == '__main__':
    main()
