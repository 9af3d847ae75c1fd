"""Checks of cointrail's sharing exports against the formats' own definitions, independent of
cointrail's code (python3 stdlib, Debian's python3-jsonschema and python3-yaml):

  stix FILE [--foreign]  the bundle validates against the OASIS STIX 2.1 JSON schemas (bundle and
                    each object's own schema) and the cryptocurrency SCOs against the community
                    extension's schemas, with jsonschema's Draft 2020-12 validator; SCO ids are
                    the UUIDv5 of their ID contributing properties (RFC 8785 JSON) in STIX's SCO
                    namespace, recomputed here; ids are unique, references resolve, URLs are
                    RFC 3986 URIs, and (unless --foreign: a bundle not cointrail's) each
                    indicator's pattern names one wallet of the bundle. Prints counts (JSON).
  extdef FILE       cointrail's extension definition validates against extension-definition.json
  misp FILE [--foreign]  the event has the core format's required fields; every object matches its
                    template in tests/data/sharing/misp-objects (uuid, version, relations,
                    MISP types, requiredOneOf, multiple), every attribute's category is valid
                    for its type (the core format's category-type table), uuids are unique;
                    --foreign: objects without a template here are skipped
  tagpack FILE...   each TagPack has the mandatory header and tag fields of tagpack_schema.yaml
                    (tag fields may be inherited from the header), no field the schema lacks,
                    values of the schema's types
  ftm FILE          each line a FollowTheMoney entity whose properties the schema defines
                    (CryptoWallet.yaml, its parents Thing and Value), topics of FtM's
                    vocabulary, holders that are entities of the file
  same A B [--tagpack]  two labels.db files hold the same labels; with --tagpack, B as a
                    TagPack round trip gives A (programs, first and last seen dropped, an empty
                    name read as the actor or the source: docs/sharing.md)

The extension's schema files are read with a duplicate-key check: a key given twice is kept
last (as JSON parsers do) and reported on stderr; the copies in tests/data/sharing have none.
"""
import json
import os
import re
import sys
import uuid

import yaml
from jsonschema import Draft202012Validator, RefResolver

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sharing")
SCO_NS = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
OASIS_PREFIXES = [
    "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/",
    "https://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/master/schemas/",
]
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\"<>\\^`{|}\x00-\x1f\x7f]+$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 20:
        print("FAIL:", msg)


def no_dups(where):
    def hook(pairs):
        keys = [k for k, _ in pairs]
        dups = sorted({k for k in keys if keys.count(k) > 1})
        if dups:
            print(f"note: {where}: keys given twice (the last kept): {dups}", file=sys.stderr)
        return dict(pairs)
    return hook


def strict_load(path):
    """The export itself: a key given twice is an error."""
    def hook(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            fail(f"{path}: a key given twice in one object: {keys}")
        return dict(pairs)
    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=hook)


def schema_store():
    store = {}
    root = os.path.join(DATA, "stix2-json-schemas")
    for d, _, files in os.walk(root):
        for name in files:
            if name.endswith(".json"):
                path = os.path.join(d, name)
                with open(path) as f:
                    doc = json.load(f, object_pairs_hook=no_dups(path))
                rel = os.path.relpath(path, root)
                for pre in OASIS_PREFIXES:
                    store[pre + rel] = doc
    return store


def validator(store, schema):
    base = schema.get("$id", OASIS_PREFIXES[1] + "common/")
    return Draft202012Validator(schema, resolver=RefResolver(base, schema, store=store))


def errors(v, doc, limit=3):
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in list(v.iter_errors(doc))[:limit]]


def jcs(obj):
    """RFC 8785 for the objects an SCO id hashes (strings only)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_stix(path, foreign=False):
    bundle = strict_load(path)
    store = schema_store()
    o = OASIS_PREFIXES[0]
    # OASIS's bundle.json lists no incident (nor grouping, location, note, opinion): such an
    # object falls to its custom-object clause, whose oneOf of core.json and
    # cyber-observable-core.json it matches twice (the SCO core takes any type and id), so no
    # bundle holding one validates. Those objects are checked against their own schema below
    # (which includes core.json); the bundle without them against bundle.json.
    unlisted = {"incident", "grouping", "location", "note", "opinion"}
    listed = dict(bundle, objects=[ob for ob in bundle.get("objects", [])
                                   if ob.get("type") not in unlisted])
    for e in errors(validator(store, store[o + "common/bundle.json"]), listed):
        fail(f"bundle schema: {e}")
    ext = {}
    for t in ("cryptocurrency-wallet", "cryptocurrency-transaction"):
        p = os.path.join(DATA, "stix2-crypto-extension", "schemas", "scos", t + ".json")
        with open(p) as f:
            ext[t] = validator(store, json.load(f, object_pairs_hook=no_dups(p)))
    own = {}
    for kind in ("sdos", "sros"):
        for name in os.listdir(os.path.join(DATA, "stix2-json-schemas", kind)):
            own[name[:-5]] = validator(store, store[o + f"{kind}/{name}"])
    objs = bundle.get("objects", [])
    ids, counts, wallets = {}, {}, {}
    for i, ob in enumerate(objs):
        t = ob.get("type")
        counts[t] = counts.get(t, 0) + 1
        if ob.get("id") in ids:
            fail(f"/objects/{i}: id {ob.get('id')} given twice")
        ids[ob.get("id")] = ob
        v = ext.get(t) or own.get(t)
        if not v:
            fail(f"/objects/{i}: type {t} has no schema here")
            continue
        for e in errors(v, ob):
            fail(f"/objects/{i} ({t}): {e}")
        if t == "cryptocurrency-wallet":
            want = f"{t}--{uuid.uuid5(SCO_NS, jcs({'value': ob['value']}))}"
            wallets[ob["value"]] = ob
        elif t == "cryptocurrency-transaction":
            want = f"{t}--{uuid.uuid5(SCO_NS, jcs({'symbol': ob['symbol'], 'value': ob['value']}))}"
        else:
            want = None
        if want and ob["id"] != want:
            fail(f"/objects/{i}: SCO id {ob['id']}, want {want}")
        for r in ob.get("external_references", []):
            if "url" in r and not URI.match(r["url"]):
                fail(f"/objects/{i}: url {r['url']!r} is not an RFC 3986 URI")
    ext_ids = {"extension-definition--be78509e-6958-51b1-8b26-d17ee0eba2d7",
               "extension-definition--151d042d-4dcf-5e44-843f-1024440318e5",
               "extension-definition--1fe9962a-cc58-591e-841c-7b2458aa35ce"}
    for i, ob in enumerate(objs):
        refs = [ob[k] for k in ob if k.endswith("_ref")]
        refs += [r for k in ob if k.endswith("_refs") for r in ob[k]]
        refs += [m["address_ref"] for k in ("input", "output") for m in ob.get(k, [])]
        for r in refs:
            if r not in ids:
                fail(f"/objects/{i}: reference {r} is not in the bundle")
        for e in ob.get("extensions", {}):
            if e not in ext_ids:
                fail(f"/objects/{i}: unknown extension {e}")
        if ob.get("type") == "indicator" and not foreign:
            m = re.fullmatch(r"\[cryptocurrency-wallet:value = '((?:[^'\\]|\\.)*)'\]", ob["pattern"])
            if not m:
                fail(f"/objects/{i}: pattern {ob['pattern']!r}")
            elif re.sub(r"\\(.)", r"\1", m.group(1)) not in wallets:
                fail(f"/objects/{i}: pattern names no wallet of the bundle")
    print(json.dumps({"objects": len(objs), "types": counts}, sort_keys=True))


def check_extdef(path):
    store = schema_store()
    doc = strict_load(path)
    v = validator(store, store[OASIS_PREFIXES[0] + "common/extension-definition.json"])
    for e in errors(v, doc):
        fail(f"extension definition: {e}")


# The MISP core format's category-type table (draft-dulaunoy-misp-core-format, 2.3.2.3), for
# the types the templates cointrail writes use.
MISP_CATEGORIES = {
    "btc": {"Financial fraud"},
    "xmr": {"Financial fraud"},
    "float": {"Other"},
    "link": {"Antivirus detection", "External analysis", "Internal reference", "Payload delivery",
             "Support Tool"},
    "datetime": {"Other"},
    "text": {"Antivirus detection", "Artifacts dropped", "Attribution", "External analysis",
             "Financial fraud", "Internal reference", "Network activity", "Other",
             "Payload delivery", "Payload installation", "Payload type",
             "Persistence mechanism", "Person", "Social network", "Support Tool"},
}


def check_misp(path, foreign=False):
    doc = strict_load(path)
    ev = doc.get("Event")
    if not isinstance(ev, dict):
        fail("no Event")
        return
    for k, typ in (("uuid", str), ("info", str), ("date", str), ("timestamp", str),
                   ("published", bool), ("publish_timestamp", str), ("analysis", str),
                   ("threat_level_id", str), ("distribution", str), ("Orgc", dict)):
        if not isinstance(ev.get(k), typ):
            fail(f"/Event/{k}: missing or not {typ.__name__}")
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", ev.get("date", "")):
        fail("/Event/date is not YYYY-MM-DD")
    if ev.get("distribution") not in {"0", "1", "2", "3", "4"}:
        fail("/Event/distribution")
    for k in ("uuid", "name"):
        if not isinstance(ev.get("Orgc", {}).get(k), str):
            fail(f"/Event/Orgc/{k}")
    templates = {}
    tdir = os.path.join(DATA, "misp-objects")
    for name in os.listdir(tdir):
        p = os.path.join(tdir, name, "definition.json")
        if os.path.exists(p):
            with open(p) as f:
                templates[name] = json.load(f)
    uuids, n_attr, counts = set(), 0, {}
    for i, ob in enumerate(ev.get("Object", [])):
        where = f"/Event/Object/{i}"
        t = templates.get(ob.get("name"))
        counts[ob.get("name")] = counts.get(ob.get("name"), 0) + 1
        if not t:
            if not foreign:
                fail(f"{where}: no template {ob.get('name')}")
            continue
        if ob.get("template_uuid", "").lower() != t["uuid"].lower() or \
                ob.get("template_version") != str(t["version"]):
            fail(f"{where}: template uuid/version {ob.get('template_uuid')}/{ob.get('template_version')}")
        for k in ("meta-category", "description"):
            if ob.get(k) != t[k]:
                fail(f"{where}/{k}: {ob.get(k)!r}, the template says {t[k]!r}")
        for k in ("uuid", "timestamp", "distribution", "deleted", "Attribute"):
            if k not in ob:
                fail(f"{where}: no {k}")
        rels = []
        for j, a in enumerate(ob.get("Attribute", [])):
            aw = f"{where}/Attribute/{j}"
            n_attr += 1
            rel = a.get("object_relation")
            rels.append(rel)
            spec = t["attributes"].get(rel)
            if not spec:
                fail(f"{aw}: relation {rel!r} is not in the {ob['name']} template")
                continue
            if a.get("type") != spec["misp-attribute"]:
                fail(f"{aw}: type {a.get('type')}, the template says {spec['misp-attribute']}")
            if a.get("category") not in MISP_CATEGORIES.get(a.get("type"), ()):
                fail(f"{aw}: category {a.get('category')!r} is not valid for type {a.get('type')}")
            for k, typ in (("uuid", str), ("value", str), ("to_ids", bool), ("timestamp", str),
                           ("distribution", str), ("category", str), ("type", str)):
                if not isinstance(a.get(k), typ):
                    fail(f"{aw}/{k}: missing or not {typ.__name__}")
            if a.get("type") == "datetime" and not re.fullmatch(
                    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)", a.get("value", "")):
                fail(f"{aw}: datetime {a.get('value')!r}")
            if a.get("type") == "float":
                float(a["value"])
            for tg in a.get("Tag", []):
                if not isinstance(tg.get("name"), str) or not tg["name"]:
                    fail(f"{aw}: a tag without a name")
            for u in (a.get("uuid"),):
                if u in uuids or not UUID_RE.match(u or ""):
                    fail(f"{aw}: uuid {u} repeated or malformed")
                uuids.add(u)
        for rel in set(rels):
            if rels.count(rel) > 1 and not t["attributes"][rel].get("multiple"):
                fail(f"{where}: {rel} given {rels.count(rel)} times, the template allows one")
        if not set(rels) & set(t.get("requiredOneOf", rels)):
            fail(f"{where}: none of requiredOneOf {t.get('requiredOneOf')}")
        for r in t.get("required", []):
            if r not in rels:
                fail(f"{where}: required {r} missing")
        if ob.get("uuid") in uuids or not UUID_RE.match(ob.get("uuid", "")):
            fail(f"{where}: uuid repeated or malformed")
        uuids.add(ob.get("uuid"))
    for j, a in enumerate(ev.get("Attribute", [])):
        aw = f"/Event/Attribute/{j}"
        if foreign and a.get("type") not in MISP_CATEGORIES:
            continue  # a type cointrail does not write: no table here
        if a.get("category") not in MISP_CATEGORIES.get(a.get("type"), ()):
            fail(f"{aw}: category {a.get('category')!r} is not valid for type {a.get('type')}")
        if "object_relation" in a:
            fail(f"{aw}: an event attribute with an object relation")
        if a.get("uuid") in uuids or not UUID_RE.match(a.get("uuid") or ""):
            fail(f"{aw}: uuid {a.get('uuid')} repeated or malformed")
        uuids.add(a.get("uuid"))
    total = sum(len(ob.get("Attribute", [])) for ob in ev.get("Object", []))
    if ev.get("attribute_count") != str(total + len(ev.get("Attribute", []))):
        fail(f"/Event/attribute_count {ev.get('attribute_count')} for {n_attr} attributes")
    print(json.dumps({"objects": counts, "attributes": n_attr}, sort_keys=True))


def check_tagpack(paths):
    with open(os.path.join(DATA, "graphsense-tagpack", "tagpack_schema.yaml")) as f:
        schema = yaml.safe_load(f)
    head, tag = schema["header"], schema["tag"]
    n = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            pack = yaml.safe_load(f)
        for k, spec in head.items():
            if spec.get("mandatory") and k not in pack:
                fail(f"{path}: header field {k} missing")
        for k in pack:
            if k not in head and k not in tag:
                fail(f"{path}: header field {k} is not in the schema")
        for i, t in enumerate(pack.get("tags") or []):
            n += 1
            for k in t:
                if k not in tag:
                    fail(f"{path}: tag {i}: field {k} is not in the schema")
            for k, spec in tag.items():
                v = t.get(k, pack.get(k))
                if v is None:
                    if spec.get("mandatory"):
                        fail(f"{path}: tag {i}: mandatory {k} missing")
                    continue
                ok = {"text": lambda x: isinstance(x, str),
                      "boolean": lambda x: isinstance(x, bool),
                      "list": lambda x: isinstance(x, list),
                      "datetime": lambda x: hasattr(x, "year") or isinstance(x, str)}[spec["type"]](v)
                if not ok:
                    fail(f"{path}: tag {i}: {k} {v!r} is not of type {spec['type']}")
            if not t.get("address") and not t.get("tx_hash"):
                fail(f"{path}: tag {i}: neither address nor tx_hash")
    print(json.dumps({"packs": len(paths), "tags": n}))


# FollowTheMoney: CryptoWallet's parents' properties (schema/Thing.yaml, schema/Value.yaml in
# followthemoney) and the topic vocabulary (types/topic.py), as facts.
THING = {"name", "summary", "description", "country", "alias", "previousName", "weakAlias",
         "sourceUrl", "publisher", "publisherUrl", "alephUrl", "wikipediaUrl", "wikidataId",
         "keywords", "topics", "address", "addressEntity", "program", "notes", "proof",
         "indexText", "modifiedAt", "retrievedAt"}
VALUE = {"amount", "currency", "amountUsd", "amountEur"}
TOPICS = {"crime", "crime.fraud", "crime.cyber", "crime.fin", "crime.theft", "crime.war",
          "crime.boss", "crime.terror", "crime.traffick", "crime.traffick.drug",
          "crime.traffick.human", "corp.offshore", "corp.shell", "gov", "gov.national",
          "gov.state", "gov.muni", "gov.soe", "gov.igo", "gov.head", "gov.administrative",
          "gov.executive", "gov.legislative", "gov.judicial", "gov.security", "gov.financial",
          "fin", "fin.bank", "fin.fund", "fin.adivsor", "role.pep", "role.rca", "role.judge",
          "role.civil", "role.diplo", "role.lawyer", "role.acct", "role.spy", "role.oligarch",
          "role.journo", "role.act", "pol.party", "pol.union", "rel", "mil", "asset.frozen",
          "sanction", "sanction.linked", "debarment", "poi"}


def check_ftm(path):
    with open(os.path.join(DATA, "followthemoney", "CryptoWallet.yaml")) as f:
        cw = yaml.safe_load(f)["CryptoWallet"]
    allowed = {"CryptoWallet": set(cw["properties"]) | THING | VALUE, "LegalEntity": THING}
    ents = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            ents.append(json.loads(line))
    ids = {e["id"] for e in ents}
    if len(ids) != len(ents):
        fail("entity ids repeated")
    counts = {}
    for e in ents:
        s = e.get("schema")
        counts[s] = counts.get(s, 0) + 1
        props = e.get("properties", {})
        if s not in allowed:
            fail(f"{e['id']}: schema {s}")
            continue
        if not props.get("name"):
            fail(f"{e['id']}: no name (Thing requires one)")
        for k, vals in props.items():
            if k not in allowed[s]:
                fail(f"{e['id']}: property {k} is not in {s}")
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                fail(f"{e['id']}: {k} is not a list of strings")
            if len(set(vals)) != len(vals):
                fail(f"{e['id']}: {k} repeats a value")
        for t in props.get("topics", []):
            if t not in TOPICS:
                fail(f"{e['id']}: topic {t}")
        for h in props.get("holder", []):
            if h not in ids:
                fail(f"{e['id']}: holder {h} is not an entity of the file")
        for k in ("creationDate", "balanceDate", "modifiedAt"):
            for v in props.get(k, []):
                if not re.fullmatch(r"\d{4}-\d\d-\d\d", v):
                    fail(f"{e['id']}: {k} {v!r} is not a date")
        for v in props.get("sourceUrl", []):
            if not URI.match(v):
                fail(f"{e['id']}: sourceUrl {v!r}")
        for v in props.get("publicKey", []):
            if len(v) > cw["properties"]["publicKey"]["maxLength"]:
                fail(f"{e['id']}: publicKey over maxLength")
    print(json.dumps(counts, sort_keys=True))


def labels_db(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[0].startswith("cointrail-labels\t1\t"), path
    return [ln.split("\t") for ln in lines[2:] if ln]


def same(a, b, tagpack):
    A, B = labels_db(a), labels_db(b)
    if tagpack:
        # chain address category actor name source url programs first last updated confidence
        want = []
        for r in A:
            r = list(r)
            r[7] = r[8] = r[9] = ""
            if not r[4]:
                r[4] = r[3] or r[5]
            want.append(r)
        A = want
    if A == B:
        print(f"{len(A)} labels, the same")
        return
    for ra, rb in zip(A, B):
        if ra != rb:
            fail(f"first difference:\n  {ra}\n  {rb}")
            break
    if len(A) != len(B):
        fail(f"{len(A)} labels against {len(B)}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "stix":
        check_stix(args[0], "--foreign" in args)
    elif cmd == "extdef":
        check_extdef(args[0])
    elif cmd == "misp":
        check_misp(args[0], "--foreign" in args)
    elif cmd == "tagpack":
        check_tagpack(args)
    elif cmd == "ftm":
        check_ftm(args[0])
    elif cmd == "same":
        same(args[0], args[1], "--tagpack" in args)
    else:
        sys.exit(f"unknown command {cmd}")
    if failures:
        print(f"{len(failures)} failures")
        sys.exit(1)


if __name__ == "__main__":
    main()
