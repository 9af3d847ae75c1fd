"""Malformed STIX bundles and MISP events made from good exports, one fault each, for
e2e_sharing.sh: writes them to OUTDIR and prints one line per file, "FILE<TAB>MESSAGE", with
the part of cointrail's error that must name the fault (the JSON pointer of the bad field, or
the line and column of a syntax error, computed here from the file written).

    sharing_bad.py STIX_EXPORT MISP_EXPORT OUTDIR
"""
import copy
import json
import os
import sys


def first(objs, type_):
    return next(i for i, o in enumerate(objs) if o["type"] == type_)


def main():
    stix_path, misp_path, out = sys.argv[1:4]
    with open(stix_path) as f:
        stix = json.load(f)
    with open(misp_path) as f:
        misp = json.load(f)
    os.makedirs(out, exist_ok=True)
    cases = []

    def emit(name, doc, want, raw=None):
        path = os.path.join(out, name)
        with open(path, "w") as f:
            f.write(raw if raw is not None else json.dumps(doc))
        cases.append((path, want))

    objs = stix["objects"]
    w, ind = first(objs, "cryptocurrency-wallet"), first(objs, "indicator")
    rel, ident = first(objs, "relationship"), first(objs, "identity")

    def stix_case(name, want, change):
        b = copy.deepcopy(stix)
        change(b["objects"])
        emit(name, b, want)

    stix_case("wallet_value_number.json", f"field /objects/{w}/value: expected a string",
              lambda o: o[w].__setitem__("value", 42))
    stix_case("pattern_open_quote.json", f"field /objects/{ind}/pattern: the string that starts",
              lambda o: o[ind].__setitem__("pattern", "[cryptocurrency-wallet:value = 'abc]"))
    stix_case("pattern_bad_escape.json", f"field /objects/{ind}/pattern: a backslash at byte",
              lambda o: o[ind].__setitem__("pattern", "[cryptocurrency-wallet:value = 'a\\b']"))
    stix_case("confidence_101.json", f"field /objects/{ind}/confidence: expected an integer 0..100",
              lambda o: o[ind].__setitem__("confidence", 101))
    stix_case("id_type.json", f"field /objects/{ind}/id: not TYPE--UUID",
              lambda o: o[ind].__setitem__("id", "identity--" + o[ind]["id"].split("--")[1]))
    stix_case("name_escape.json", f"field /objects/{ind}/name: control character 0x1b at byte 1",
              lambda o: o[ind].__setitem__("name", "\x1b[2Jcleared"))
    stix_case("relationship_no_target.json", f"field /objects/{rel}/target_ref: missing",
              lambda o: o[rel].pop("target_ref"))
    stix_case("identity_name_list.json", f"field /objects/{ident}/name: expected a string",
              lambda o: o[ident].__setitem__("name", ["a"]))
    stix_case("chain_bad.json", f"field /objects/{ind}/x_cointrail_chain:",
              lambda o: o[ind].__setitem__("x_cointrail_chain", "b t c"))
    stix_case("object_not_object.json", "field /objects/1: expected an object",
              lambda o: o.__setitem__(1, "identity"))
    b = copy.deepcopy(stix)
    b["objects"] = {"a": 1}
    emit("objects_not_list.json", b, "field /objects: expected a list")
    # syntax: a key twice, and a file cut short; the line and column where the parser stops
    text = json.dumps(stix, indent=1)
    at = text.index('"type"', text.index('"objects"'))
    dup = text[:at] + '"type": "x", ' + text[at:]
    line = dup[:at].count("\n") + 1
    emit("duplicate_key.json", None, f":{line}: column", raw=dup)
    emit("truncated.json", None, "JSON: ", raw=text[: len(text) // 2])

    ev = misp["Event"]
    obj_i = 0
    tags = ev["Object"][0]["Attribute"][0]["Tag"]
    conf = next(i for i, t in enumerate(tags) if t["name"].startswith("cointrail:confidence="))

    def misp_case(name, want, change):
        m = copy.deepcopy(misp)
        change(m["Event"])
        emit(name, m, want)

    misp_case("misp_value_number.json", f"field /Event/Object/{obj_i}/Attribute/0/value: expected a string",
              lambda e: e["Object"][obj_i]["Attribute"][0].__setitem__("value", 5))
    misp_case("misp_confidence.json",
              f"field /Event/Object/{obj_i}/Attribute/0/Tag/{conf}/name: confidence: expected 0..100",
              lambda e: e["Object"][obj_i]["Attribute"][0]["Tag"][conf].__setitem__(
                  "name", 'cointrail:confidence="150"'))
    misp_case("misp_objects.json", "field /Event/Object: expected a list",
              lambda e: e.__setitem__("Object", "x"))
    misp_case("misp_orgc.json", "field /Event/Orgc: expected an object",
              lambda e: e.__setitem__("Orgc", 3))
    misp_case("misp_relation.json", f"field /Event/Object/{obj_i}/Attribute/1/object_relation: missing",
              lambda e: e["Object"][obj_i]["Attribute"][1].pop("object_relation"))
    misp_case("misp_tag_nul.json", "JSON: \\u0000 is not allowed",
              lambda e: e["Object"][obj_i]["Attribute"][0]["Tag"][0].__setitem__("name", "a\x00b"))
    emit("misp_response.json", {"response": [{"Event": ev}, {"event": {}}]},
         "field /response/1/Event: missing")
    for path, want in cases:
        print(f"{path}\t{want}")


if __name__ == "__main__":
    main()
