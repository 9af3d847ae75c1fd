#!/bin/bash
# Hostile label text (review findings 12 and 18). A labels.db written before import refused
# terminal control characters (ESC sequences that clear the screen or set the window title,
# CR, BEL, C1 controls, bidi overrides) prints none of them raw in any text output: `labels
# show|list|search`, `address`, `entity`, `screen`; --json keeps the text exact. Import refuses
# such files naming file, line and field, without quoting the bytes; a failed import prints no
# per-file summary; a CSV with bare CR line ends gets an error that says so.
source "$(dirname "$0")/common.sh"

"$BIN" generate --out "$T/g" --seed 5 --blocks 40 --txs-per-block 20 --maturity 5 --users 60 \
    --quiet >/dev/null || bad "generate"
"$BIN" import --db "$T/db" "$T/g" >/dev/null || bad "import"
"$BIN" cluster --db "$T/db" >/dev/null || bad "cluster"
A=$(grep -o '"1[1-9A-HJ-NP-Za-km-z]\{25,34\}"' "$T/g/truth.jsonl" | head -1 | tr -d '"')
"$BIN" address --db "$T/db" "$A" >/dev/null && ok || bad "address $A not in the store"

# labels.db as an older cointrail stored it (docs/labels.md: \t \n \r \\ escaped, the rest raw).
$PY tests/labels_hostile.py write-db "$T/db/labels.db" "$A"

# No byte a terminal acts on (C0 but LF, DEL), no C1 or bidi character, in text output.
clean() { # FILE WHAT
    if LC_ALL=C grep -aqP '[\x00-\x09\x0b-\x1f\x7f]' "$1"; then
        bad "$2: raw control bytes: $(cat -v "$1" | head -c 400)"
        return
    fi
    $PY tests/labels_hostile.py no-c1-bidi "$1" && ok || bad "$2: C1 or bidi characters"
}
"$BIN" labels show --db "$T/db" "$A" >"$T/show.txt" && clean "$T/show.txt" "labels show" ||
    bad "labels show failed"
grep -qF 'actor=x\x0dSANCTIONED? no  "\x1b[2J\x1b[1;31mOFAC CLEARED' "$T/show.txt" &&
    grep -qF 'source=evil\x1b]0;TITLE-HIJACK\x07' "$T/show.txt" &&
    grep -qF 'theft\x1b[8m  actor=bidi\u{202e}evil\u{2066}  "c1\u{009b}31m\u{0085}"' "$T/show.txt" &&
    grep -qF 'source=fake\x0aline\x7f' "$T/show.txt" && [ "$(wc -l <"$T/show.txt")" = 2 ] && ok ||
    bad "labels show does not escape as expected: $(cat "$T/show.txt")"
"$BIN" labels list --db "$T/db" >"$T/list.txt" && clean "$T/list.txt" "labels list" ||
    bad "labels list failed"
grep -qF 'OFAC CLEARED' "$T/list.txt" && grep -qF '\x1b]0;TITLE' "$T/list.txt" && ok ||
    bad "labels list: $(cat "$T/list.txt")"
"$BIN" labels search --db "$T/db" HIJACK >"$T/search.txt" && clean "$T/search.txt" "labels search" ||
    bad "labels search failed"
grep -q '^1 matching label$' "$T/search.txt" && ok || bad "labels search: $(cat "$T/search.txt")"
"$BIN" address --db "$T/db" "$A" >"$T/addr.txt" && clean "$T/addr.txt" "address" ||
    bad "address failed"
grep -qF 'OFAC CLEARED' "$T/addr.txt" && grep -qF 'actor x\x0dSANCTIONED' "$T/addr.txt" && ok ||
    bad "address shows no labels: $(cat "$T/addr.txt")"
"$BIN" entity --db "$T/db" "$A" >"$T/ent.txt" && clean "$T/ent.txt" "entity" || bad "entity failed"
grep -qF 'OFAC CLEARED' "$T/ent.txt" && ok || bad "entity shows no labels: $(cat "$T/ent.txt")"
"$BIN" screen --db "$T/db" "$A" >"$T/screen.txt" && clean "$T/screen.txt" "screen" ||
    bad "screen failed"
grep -qF "$A is labelled sanctioned (evil\\x1b]0;TITLE-HIJACK\\x07" "$T/screen.txt" && ok ||
    bad "screen reasons: $(cat "$T/screen.txt")"
# JSON carries the exact text (escaped by JSON itself).
"$BIN" labels show --db "$T/db" --json "$A" >"$T/show.json"
$PY tests/labels_hostile.py json-names "$T/show.json" && ok || bad "labels show --json: $(cat "$T/show.json")"

# Import refuses the same text, naming file, line and field, without echoing the bytes.
printf 'title: "\\e[2J\\e[1;31mOFAC CLEARED - NOT SANCTIONED\\e[0m"\ncurrency: BTC\ntags:\n  - address: %s\n' \
    "$A" >"$T/yaml_ansi.yaml"
printf 'chain,address,category,actor,source,confidence\nbtc,%s,exchange,ok,good,50\n' "$A" >"$T/good.csv"
printf 'chain,address,category,actor,source,confidence\nbtc,%s,exchange,x\033[2J,evil\033]0;T\007,50\n' \
    "$A" >"$T/csv_ansi.csv"
cp "$T/db/labels.db" "$T/labels.before"
refuse() { # WANT FILE...
    local want=$1
    shift
    "$BIN" labels import --db "$T/db" "$@" >"$T/imp.out" 2>"$T/imp.err"
    local rc=$?
    [ $rc = 1 ] && grep -qF "$want" "$T/imp.err" && [ ! -s "$T/imp.out" ] &&
        cmp -s "$T/db/labels.db" "$T/labels.before" && ok ||
        bad "import $*: rc $rc, want '$want': $(cat -v "$T/imp.err" "$T/imp.out")"
    LC_ALL=C grep -aqP '[\x00-\x09\x0b-\x1f\x7f]' "$T/imp.err" && bad "raw control bytes in: $(cat -v "$T/imp.err")"
}
# good.csv first: its summary ("good.csv: csv, 1 labels ...") must not be printed (#18)
refuse "yaml_ansi.yaml:1: field title: control character 0x1b at byte 1" "$T/good.csv" "$T/yaml_ansi.yaml"
refuse "csv_ansi.csv:2: field actor: control character 0x1b at byte 2" "$T/good.csv" "$T/csv_ansi.csv"
printf 'chain,address,category,actor,source,confidence\rbtc,%s,exchange,a,s,50\r' "$A" >"$T/mac.csv"
refuse "mac.csv:1: a carriage return (CR) not followed by a line feed: bare CR line ends" "$T/mac.csv"
printf 'title: t\ncurrency: BTC\ntags:\n  - address: %s\n    label: x\n    address: 12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S\n' \
    "$A" >"$T/dup.yaml"
refuse "dup.yaml:6: field address: given twice in one mapping (first at line 4)" "$T/dup.yaml"
printf 'title: "a\\0b"\ncurrency: BTC\ntags:\n  - address: %s\n' "$A" >"$T/nul.yaml"
refuse "nul.yaml:1: field title: a NUL character" "$T/nul.yaml"
printf 'chain,address,category,actor,source,confidence\nbtc,%s,exchange,"never closed,s,50\n' "$A" >"$T/quote.csv"
refuse "quote.csv:2: field 4: quoted field never closed" "$T/good.csv" "$T/quote.csv"
# A good import still prints its summary, after the save.
"$BIN" labels import --db "$T/db" "$T/good.csv" >"$T/imp.out" 2>&1 &&
    grep -q "good.csv: csv, 1 labels (1 new, 0 already present), 0 rejected" "$T/imp.out" && ok ||
    bad "good import: $(cat "$T/imp.out")"
finish
