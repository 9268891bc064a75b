// Each construct of the template language, rendered and compared with the output of Python's
// Jinja2 configured as transformers configures it (sandboxed, trim_blocks, lstrip_blocks,
// loopcontrols, transformers' tojson). The expected strings were produced by that reference.
#include <cstddef>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/chat_template/chat_template.h"

namespace strata::server {
namespace {

struct Case {
  const char* source;
  const char* variables;  // JSON object
  const char* expected;
};

const Case kWhitespaceCases[] = {
    {"{% if true %}\nyes\n{% endif %}\nafter", "{}", "yes\nafter"},
    {"  {% if true %}\n  x\n  {% endif %}\n", "{}", "  x\n"},
    {"a  {%+ if true %}x{% endif %}", "{}", "a  x"},
    {"a\n  {#- c -#}  \n b", "{}", "ab"},
    {"x{{- ' y ' -}}z\n  {{ 1 }}", "{}", "x y z\n  1"},
    {"{%- set s = 'x' -%}\n\n  {{- s -}}  \n\n", "{}", "x"},
    {"line\n    {{ 'expr not lstripped' }}\n", "{}", "line\n    expr not lstripped"},
    {"{% for i in [1, 2] %}\n  - {{ i }}\n{% endfor %}\n", "{}", "  - 1\n  - 2\n"},
    {"{% for i in [1, 2] -%}\n  {{ i }}\n{%- endfor %}", "{}", "12"},
    {"{# comment #}\nnext", "{}", "next"},
    {"{% if true +%}\nkept newline{% endif %}", "{}", "\nkept newline"},
    {"{% raw %}{{ not evaluated }} {% if %}{% endraw %}", "{}", "{{ not evaluated }} {% if %}"},
    {"a\r\nb\r\n{% if true %}\r\nc\r\n{% endif %}\r\n", "{}", "a\nb\nc\n"},
    {"text with trailing newline\n", "{}", "text with trailing newline"},
    {"two trailing newlines\n\n", "{}", "two trailing newlines\n"},
    {"{{ 'a' }}\n{{ 'b' }}", "{}", "a\nb"},
};

const Case kLiteralsCases[] = {
    {"{{ 'single' }} {{ \"double\" }} {{ 'adjacent' 'strings' }}", "{}",
     "single double adjacentstrings"},
    {"{{ 'tab\\there' }}|{{ 'nl\\nhere' }}|{{ 'quote\\'s' }}|{{ '\\u00e9\\x41' }}|{{ "
     "'back\\\\slash' }}",
     "{}", "tab\there|nl\nhere|quote's|éA|back\\slash"},
    {"{{ 42 }} {{ -7 }} {{ 1_000 }} {{ 3.25 }} {{ 1e3 }} {{ 2.5E-3 }}", "{}",
     "42 -7 1000 3.25 1000.0 0.0025"},
    {"{{ true }} {{ false }} {{ none }} {{ True }} {{ None }}", "{}", "True False None True None"},
    {"{{ [1, 'a', none, 1.0, {'k': 'v'}] }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ {} }} {{ [] }}",
     "{}", "[1, 'a', None, 1.0, {'k': 'v'}] (1,) (1, 2) () {} []"},
    {"{{ {'a': 1, 'b': [2, 3]} }} {{ ['it\\'s', 'say \"x\"', \"both ' \\\" \"] }}", "{}",
     "{'a': 1, 'b': [2, 3]} [\"it's\", 'say \"x\"', 'both \\' \" ']"},
    {"{{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 0.1 + 0.2 }} {{ 2.0 }} {{ "
     "-0.0 }}",
     "{}", "1e+20 1e+16 1000000000000000.0 0.0001 1e-05 0.30000000000000004 2.0 -0.0"},
};

const Case kOperatorsCases[] = {
    {"{{ 1 + 2 }} {{ 7 - 10 }} {{ 3 * 4 }} {{ 3 / 2 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 "
     "% 3 }} {{ -7 % 3 }} {{ 2 ** 10 }}",
     "{}", "3 -3 12 1.5 2.0 3 -4 1 2 1024"},
    {"{{ 1 + 2.5 }} {{ 7.5 // 2 }} {{ 7.5 % 2 }} {{ 2 ** -1 }} {{ true + 1 }}", "{}",
     "3.5 3.0 1.5 0.5 2"},
    {"{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ [0] * 3 }} {{ (1, 2) + (3,) }}", "{}",
     "abcd ababab [1, 2] [0, 0, 0] (1, 2, 3)"},
    {"{{ 1 ~ 'a' ~ none ~ true ~ [1] }}|{{ missing ~ 'x' }}", "{}", "1aNoneTrue[1]|x"},
    {"{{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 10 - 2 - 3 }}", "{}",
     "14 20 4 64 5"},
    {"{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ true == 1 "
     "}} {{ 'a' != 'a' }}",
     "{}", "True False True True True True False"},
    {"{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1 == 1 }}", "{}", "True False True"},
    {"{{ 'b' in 'abc' }} {{ 'x' not in 'abc' }} {{ 1 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not "
     "in [1] }} {{ 'x' in missing }}",
     "{}", "True True True True True False"},
    {"{{ not true }} {{ not 0 }} {{ true and 'yes' }} {{ 0 and 'no' }} {{ '' or 'fallback' }} {{ "
     "'first' or 'second' }}",
     "{}", "False True yes 0 fallback first"},
    {"{{ 'y' if x else 'n' }} {{ 'y' if not x else 'n' }} [{{ 'only' if x }}]", "{\"x\": 0}",
     "n y []"},
    {"{{ a or b and c }} {{ not a == b }}", "{\"a\": 0, \"b\": 1, \"c\": 2}", "2 True"},
    {"{{ 'x' if a else 'y' if b else 'z' }}", "{\"a\": false, \"b\": false}", "z"},
    {"{{ '%s is %d years' % ('Ann', 30) }} {{ '%.2f' % 3.14159 }} {{ '%(n)s!' % {'n': 'hi'} }} {{ "
     "'100%%' % () }}",
     "{}", "Ann is 30 years 3.14 hi! 100%"},
};

const Case kAccessCases[] = {
    {"{{ d.a }} {{ d['a'] }} {{ d.b.c }} {{ d['b']['c'] }} {{ l[0] }} {{ l[-1] }} {{ l.1 }}",
     "{\"d\": {\"a\": 1, \"b\": {\"c\": 2}}, \"l\": [10, 20]}", "1 1 2 2 10 20 20"},
    {"[{{ d.missing }}] [{{ l[5] }}] [{{ 'abc'[10] }}] [{{ none[0] }}]", "{\"d\": {}, \"l\": [1]}",
     "[] [] [] []"},
    {"{{ d['items'] }} {{ d.items()|list }} {{ d.get('items') }} {{ d.keys()|list }} {{ "
     "d.values()|list }}",
     "{\"d\": {\"items\": 5}}", "5 [('items', 5)] 5 ['items'] [5]"},
    {"{{ 'abcdef'[1:3] }} {{ 'abcdef'[::-1] }} {{ 'abcdef'[::2] }} {{ 'abcdef'[-2:] }} {{ "
     "'abcdef'[:-2] }} {{ [1, 2, 3, 4][1:] }} {{ [1, 2, 3][::-1] }} {{ (1, 2, 3)[1:] }}",
     "{}", "bc fedcba ace ef abcd [2, 3, 4] [3, 2, 1] (2, 3)"},
    {"{{ 'héllo wörld'[1] }} {{ 'héllo wörld'[-4:] }} {{ 'héllo'|length }} {{ '日本語'[::-1] }}",
     "{}", "é örld 5 語本日"},
    {"{{ messages[0].role }} {{ messages[-1]['content'] }} {{ messages|length }}",
     "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", "
     "\"content\": \"yo\"}]}",
     "user yo 2"},
};

const Case kStatementsCases[] = {
    {"{% if x == 1 %}one{% elif x == 2 %}two{% elif x == 3 %}three{% else %}other{% endif %}",
     "{\"x\": 3}", "three"},
    {"{% if x %}a{% else %}b{% endif %}{% if y is defined %}c{% endif %}", "{\"x\": []}", "b"},
    {"{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ "
     "loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
     "{}", "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;"},
    {"{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }}|{% endfor %}", "{}",
     "-1-2|1-2-3|2-3-|"},
    {"{% for x in [1, 2, 3] %}{{ loop.cycle('odd', 'even') }} {% endfor %}", "{}", "odd even odd "},
    {"{% for x in [] %}never{% else %}empty{% endfor %}|{% for x in missing %}never{% else "
     "%}undefined is empty{% endfor %}",
     "{}", "empty|undefined is empty"},
    {"{% for x in [1, 2, 3, 4, 5, 6] if x is even %}{{ x }}@{{ loop.index }}/{{ loop.length }} {% "
     "endfor %}",
     "{}", "2@1/3 4@2/3 6@3/3 "},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
     "{\"d\": {\"z\": 1, \"a\": 2}}", "z=1;a=2;za"},
    {"{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }} {% endfor %}{% for c in 'hé' %}[{{ c }}]{% "
     "endfor %}",
     "{}", "3 7 [h][é]"},
    {"{% for x in [1, 2, 3, 4, 5] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% "
     "break %}{% endif %}{{ x }}{% endfor %}",
     "{}", "13"},
    {"{% for row in [[1, 2], [3]] %}{% for x in row %}{{ loop.index }}:{{ x }} {% endfor %}/{{ "
     "loop.index }} {% endfor %}",
     "{}", "1:1 2:2 /1 1:3 /2 "},
    {"{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}", "{}", "2"},
    {"{% set x = 'outer' %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }} {% endfor %}{{ x }}",
     "{}", "outer1 outer2 outer"},
    {"{% set ns = namespace(count=0, items=[]) %}{% for i in [1, 2, 3] %}{% set ns.count = "
     "ns.count + i %}{% endfor %}{{ ns.count }} {{ ns.items }} {{ ns.missing is defined }}",
     "{}", "6 [] False"},
    {"{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns }}", "{}",
     "12<Namespace {'a': 1, 'b': 2}>"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = 1, 2 %}{{ t }} {% set (c, d) = ['x', 'y'] "
     "%}{{ c }}{{ d }}",
     "{}", "12 (1, 2) xy"},
    {"{% set block %}  Hello {{ name }}!  {% endset %}[{{ block }}] {% set up | upper | trim %}  "
     "shout  {% endset %}[{{ up }}]",
     "{\"name\": \"Ann\"}", "[  Hello Ann!  ] [SHOUT]"},
    {"{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ "
     "greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet(greeting='Yo', name='Cy') }} {{ greet() }}",
     "{}", "Hello, Ann! Hi, Bob! Yo, Cy! Hello, !"},
    {"{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro "
     "%}{{ fact(5) }}",
     "{}", "120"},
    {"{% macro show(x) %}[{{ x }}|{{ outer }}]{% endmacro %}{% set outer = 'o' %}{{ show(1) }}",
     "{}", "[1|o]"},
    {"{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {% for i in "
     "range(2) %}{{ i }}{% endfor %}",
     "{}", "[0, 1, 2] [1, 3, 5] [5, 3, 1] 01"},
    {"{{ dict(a=1, b='x') }} {{ dict({'k': 1}, z=2) }}", "{}",
     "{'a': 1, 'b': 'x'} {'k': 1, 'z': 2}"},
    {"{% filter upper %}shout {{ name }}{% endfilter %} {% filter trim | title %}  two words  {% "
     "endfilter %}",
     "{\"name\": \"ann\"}", "SHOUT ANN Two Words"},
    {"{% set s %}{% filter trim %}\n  padded  \n{% endfilter %}{% endset %}[{{ s }}]", "{}",
     "[padded]"},
};

const Case kFiltersCases[] = {
    {"{{ '  pad  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ none|trim }}|{{ missing|trim }}|{{ "
     "'Hi'|upper }}{{ 'Hi'|lower }}",
     "{}", "pad|hi|None||HIhi"},
    {"{{ [1, 2, 3]|length }} {{ 'héllo'|length }} {{ {'a': 1}|length }} {{ missing|length }} {{ "
     "'ab'|count }}",
     "{}", "3 5 1 0 2"},
    {"{{ ['a', 'b']|join }} {{ ['a', 'b']|join(', ') }} {{ [1, none, true]|join('-') }} {{ "
     "users|join(', ', attribute='name') }}",
     "{\"users\": [{\"name\": \"x\"}, {\"name\": \"y\"}]}", "ab a, b 1-None-True x, y"},
    {"{{ missing|default('d') }} {{ none|default('d') }} {{ ''|default('d') }} {{ ''|default('d', "
     "true) }} {{ 0|d('zero', boolean=true) }} {{ missing|default }}",
     "{}", "d None  d zero "},
    {"{{ [3, 1, 2]|first }} {{ [3, 1, 2]|last }} {{ 'abc'|first }} {{ 'abc'|last }} [{{ []|first "
     "}}] {{ {'k': 1}|first }}",
     "{}", "3 2 a c [] k"},
    {"{{ 'abc'|reverse }} {{ [1, 2, 3]|reverse|list }} {{ 'abc'|list }} {{ {'a': 1, 'b': 2}|list "
     "}} {{ missing|list }}",
     "{}", "cba [3, 2, 1] ['a', 'b', 'c'] ['a', 'b'] []"},
    {"{% for k, v in d|items %}{{ k }}:{{ v }} {% endfor %}{{ d|items|list }} {{ "
     "missing|items|list }}",
     "{\"d\": {\"b\": 1, \"a\": 2}}", "b:1 a:2 [('b', 1), ('a', 2)] []"},
    {"{{ d|dictsort }} {{ d|dictsort(by='value') }} {{ d|dictsort(reverse=true) }}",
     "{\"d\": {\"b\": 1, \"a\": 3, \"C\": 2}}",
     "[('a', 3), ('b', 1), ('C', 2)] [('b', 1), ('C', 2), ('a', 3)] [('C', 2), ('b', 1), ('a', "
     "3)]"},
    {"{{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ [3, 1, "
     "2]|sort(reverse=true) }} {{ users|sort(attribute='age')|map(attribute='name')|join(',') }}",
     "{\"users\": [{\"name\": \"x\", \"age\": 30}, {\"name\": \"y\", \"age\": 20}]}",
     "['A', 'b', 'c'] ['A', 'b', 'c'] [3, 2, 1] y,x"},
    {"{{ msgs|selectattr('role', 'equalto', 'user')|list|length }} {{ msgs|rejectattr('role', "
     "'equalto', 'user')|map(attribute='content')|join }} {{ msgs|selectattr('tool')|list|length "
     "}}",
     "{\"msgs\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": "
     "\"b\", \"tool\": true}]}",
     "1 b 1"},
    {"{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '', "
     "'x']|select|list }} {{ [1, 5, 9]|select('gt', 3)|list }} {{ ['a', 'b']|reject('in', "
     "['a'])|list }}",
     "{}", "[1, 3] [2, 4] [1, 'x'] [5, 9] ['b']"},
    {"{{ ['a', 'b']|map('upper')|join }} {{ users|map(attribute='name')|list }} {{ "
     "users|map(attribute='age', default=0)|list }} {{ ['1', '2']|map('int')|sum }}",
     "{\"users\": [{\"name\": \"x\"}, {\"name\": \"y\", \"age\": 3}]}", "AB ['x', 'y'] [0, 3] 3"},
    {"{{ [1, 2, 3]|sum }} {{ [1.5, 2]|sum }} {{ items|sum(attribute='n') }} {{ [1, "
     "2]|sum(start=10) }} {{ [3, 1, 2]|max }} {{ [3, 1, 2]|min }} {{ ['b', 'A']|max }} {{ []|max "
     "is defined }}",
     "{\"items\": [{\"n\": 1}, {\"n\": 2}]}", "6 3.5 3 13 3 1 b False"},
    {"{{ [1, 2, 2, 3, 1]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ ['a', "
     "'A']|unique(case_sensitive=true)|list }}",
     "{}", "[1, 2, 3] ['a', 'b'] ['a', 'A']"},
    {"{{ 'hello world-wide (test)'|title }} {{ 'hELLO wORLD'|capitalize }} {{ 'one two  "
     "three'|wordcount }}",
     "{}", "Hello World-Wide (Test) Hello world 3"},
    {"{{ 'banana'|replace('a', 'o') }} {{ 'banana'|replace('a', 'o', 2) }} {{ 5|replace('5', "
     "'five') }}",
     "{}", "bonono bonona five"},
    {"{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, "
     "blank=true) }}|{{ 'x\\ny'|indent('> ') }}",
     "{}", "a\n    b\n\n    c|  a\n  b|a\n  \n  b|x\n> y"},
    {"{{ '42'|int + 1 }} {{ '3.9'|int }} {{ 3.9|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ "
     "'ff'|int(base=16) }} {{ '2.5'|float }} {{ 'x'|float }} {{ 1|float }}",
     "{}", "43 3 3 0 7 255 2.5 0.0 1.0"},
    {"{{ 2.5|round }} {{ 3.5|round }} {{ 2.567|round(2) }} {{ 2.5|round(0, 'floor') }} {{ "
     "2.1|round(0, 'ceil') }} {{ 7|round }} {{ -3|abs }} {{ -2.5|abs }}",
     "{}", "2.0 4.0 2.57 2.0 3.0 7 3 2.5"},
    {"{{ 42|string }} {{ none|string }} {{ [1]|string }} {{ missing|string }}|{{ '<a "
     "href=\"x\">&</a>'|e }} {{ 'x'|safe }}",
     "{}", "42 None [1] |&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt; x"},
    {"{{ d|attr('a') }} {{ 'x'|attr('upper') is callable }}", "{\"d\": {\"a\": 7}}", " True"},
    {"{{ x|tojson }}",
     "{\"x\": {\"s\": \"é\\n\\\"q\\\"\", \"i\": 1, \"f\": 1.5, \"g\": 2.0, \"b\": true, \"n\": "
     "null, \"l\": [1, [2, []]], \"e\": {}}}",
     "{\"s\": \"é\\n\\\"q\\\"\", \"i\": 1, \"f\": 1.5, \"g\": 2.0, \"b\": true, \"n\": null, "
     "\"l\": [1, [2, []]], \"e\": {}}"},
    {"{{ x|tojson(indent=2) }}", "{\"x\": {\"a\": [1, {\"b\": []}, {}], \"c\": \"é\"}}",
     "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    },\n    {}\n  ],\n  \"c\": \"é\"\n}"},
    {"{{ x|tojson(indent=4) }}",
     "{\"x\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": "
     "\"object\", \"properties\": {}}}}]}",
     "[\n    {\n        \"type\": \"function\",\n        \"function\": {\n            \"name\": "
     "\"f\",\n            \"parameters\": {\n                \"type\": \"object\",\n               "
     " \"properties\": {}\n            }\n        }\n    }\n]"},
    {"{{ x|tojson(ensure_ascii=true) }} {{ x|tojson(sort_keys=true) }} {{ "
     "x|tojson(separators=(',', ':')) }}",
     "{\"x\": {\"z\": \"é😀\", \"a\": [1, 2]}}",
     "{\"z\": \"\\u00e9\\ud83d\\ude00\", \"a\": [1, 2]} {\"a\": [1, 2], \"z\": \"é😀\"} "
     "{\"z\":\"é😀\",\"a\":[1,2]}"},
    {"{{ 'str'|tojson }} {{ 1e100|tojson }} {{ none|tojson }} {{ (1, 2)|tojson }} {{ "
     "'a'|tojson(indent=2) }} {{ []|tojson(indent=2) }}",
     "{}", "\"str\" 1e+100 null [1, 2] \"a\" []"},
};

const Case kTestsCases[] = {
    {"{{ x is defined }} {{ missing is defined }} {{ missing is undefined }} {{ x is not defined "
     "}}",
     "{\"x\": 1}", "True False True False"},
    {"{{ n is none }} {{ n is not none }} {{ 0 is none }} {{ missing is none }}", "{\"n\": null}",
     "True False False False"},
    {"{{ 's' is string }} {{ 1 is string }} {{ {} is mapping }} {{ [] is mapping }} {{ [] is "
     "sequence }} {{ 's' is sequence }} {{ 1 is sequence }}",
     "{}", "True False True False True True False"},
    {"{{ 's' is iterable }} {{ [] is iterable }} {{ {} is iterable }} {{ 1 is iterable }} {{ none "
     "is iterable }} {{ missing is iterable }}",
     "{}", "True True True False False True"},
    {"{{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is "
     "integer }} {{ 1.0 is integer }} {{ 1.0 is float }}",
     "{}", "True True True True False False True"},
    {"{{ true is boolean }} {{ 1 is boolean }} {{ false is false }} {{ 0 is false }} {{ true is "
     "true }} {{ x is true }}",
     "{\"x\": true}", "True False True False True True"},
    {"{{ 3 is odd }} {{ 3 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 'a' is "
     "in 'cat' }} {{ 2 is in [1, 2] }}",
     "{}", "True False True False True True"},
    {"{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 1 is ne 2 }} {{ 2 is gt 1 }} {{ 2 is ge 2 }} {{ 1 is "
     "lt 2 }} {{ 1 is le 0 }}",
     "{}", "True False True True True True False"},
    {"{{ 'abc' is lower }} {{ 'Abc' is lower }} {{ 'ABC' is upper }} {{ n is sameas none }} {{ "
     "range is callable }} {{ 'x' is callable }}",
     "{\"n\": null}", "True False True True True False"},
    {"{{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ x is escaped }}",
     "{\"x\": \"s\"}", "True False True False"},
};

const Case kMethodsCases[] = {
    {"{{ 'abc'.startswith('a') }} {{ 'abc'.startswith(('x', 'ab')) }} {{ 'abc'.endswith('bc') }} "
     "{{ 'abc'.startswith('b', 1) }}",
     "{}", "True True True True"},
    {"[{{ '  x  '.strip() }}] [{{ '  x  '.lstrip() }}] [{{ '  x  '.rstrip() }}] [{{ "
     "'\\n\\nx\\n'.strip('\\n') }}] [{{ 'xyhixy'.strip('yx') }}]",
     "{}", "[x] [x  ] [  x] [x] [hi]"},
    {"{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ "
     "'a,b,c'.rsplit(',', 1) }} {{ ''.split() }} {{ ''.split(',') }}",
     "{}", "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] ['a,b', 'c'] [] ['']"},
    {"{{ 'x</think>\\n\\ny'.split('</think>')[-1].lstrip('\\n') }} {{ "
     "'a<think>b</think>c'.split('</think>')[0].split('<think>')[-1] }}",
     "{}", "y b"},
    {"{{ 'banana'.replace('a', 'o') }} {{ 'banana'.replace('a', 'o', 1) }} {{ 'ab'.replace('', "
     "'-') }}",
     "{}", "bonono bonana -a-b-"},
    {"{{ 'MiXeD'.lower() }} {{ 'MiXeD'.upper() }} {{ 'hello world'.title() }} {{ "
     "'hELLO'.capitalize() }}",
     "{}", "mixed MIXED Hello World Hello"},
    {"{{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ "
     "'hello'.index('e') }} {{ 'hello'.count('l') }}",
     "{}", "2 3 -1 1 2"},
    {"{{ ', '.join(['a', 'b']) }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '42'.isdigit() }} {{ "
     "'ab'.isalpha() }} {{ ' '.isspace() }}",
     "{}", "a, b ['a', 'b', 'c'] True True True"},
    {"{{ 'prefix-body'.removeprefix('prefix-') }} {{ 'body.txt'.removesuffix('.txt') }} {{ '{} and "
     "{}'.format('a', 'b') }} {{ '{x}!'.format(x=1) }}",
     "{}", "body body a and b 1!"},
    {"{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'dflt') }} {{ d.items()|list }} {{ "
     "d.keys()|list }} {{ d.values()|list }}",
     "{\"d\": {\"a\": 1, \"b\": 2}}", "1 None dflt [('a', 1), ('b', 2)] ['a', 'b'] [1, 2]"},
    {"{{ [1, 2, 1].count(1) }} {{ ['a', 'b'].index('b') }}", "{}", "2 1"},
};

const Case kScopingCases[] = {
    {"{% for i in [1] %}[{{ x }}]{% endfor %}{% set x = 'late' %}[{{ x }}]", "{\"x\": \"ctx\"}",
     "[][late]"},
    {"[{{ x }}]{% set x = 'set' %}[{{ x }}]", "{\"x\": \"ctx\"}", "[ctx][set]"},
    {"{% for i in [1, 2] %}[{{ x }}]{% set x = i %}{% endfor %}[{{ x }}]", "{\"x\": \"ctx\"}",
     "[ctx][ctx][ctx]"},
    {"{% macro m() %}[{{ x }}]{% endmacro %}{{ m() }}{% set x = 'set' %}{{ m() }}",
     "{\"x\": \"ctx\"}", "[][set]"},
    {"{% for i in [1] %}{% for j in [1] %}[{{ x }}]{% endfor %}{% set x = 2 %}{% endfor %}",
     "{\"x\": \"ctx\"}", "[]"},
    {"{% for i in [1, 2] %}[{{ x }}]{% endfor %}{% if false %}{% set x = 1 %}{% endif %}",
     "{\"x\": \"ctx\"}", "[ctx][ctx]"},
    {"{% for i in [1] %}[{{ x }}]{% endfor %}{% if c %}{% set x = 1 %}{% else %}{% set x = 2 %}{% "
     "endif %}",
     "{\"x\": \"ctx\", \"c\": true}", "[ctx]"},
    {"{% set x = 'outer' %}{% for i in [] %}{% else %}{% set x = 'else' %}[{{ x }}]{% endfor %}[{{ "
     "x }}]",
     "{}", "[else][outer]"},
    {"{% set b %}{% set x = 'in block' %}{{ x }}{% endset %}[{{ b }}][{{ x }}]", "{\"x\": \"ctx\"}",
     "[in block][ctx]"},
};

const Case kMarkupCases[] = {
    {"{{ '<b>'|safe + '<i>' }} {{ '<i>' + '<b>'|safe }} {{ '<a>'|e }} {{ '<a>'|e|e }} {{ "
     "('x'|safe) is escaped }} {{ 'x' is escaped }}",
     "{}", "<b>&lt;i&gt; &lt;i&gt;<b> &lt;a&gt; &lt;a&gt; True False"},
    {"{{ ('a'|safe ~ '<b>') }} {{ ('<p>'|safe)|upper + '&' }} {{ ('<p>%s'|safe) % '<q>' }} {{ "
     "['<a>'|safe] }}",
     "{}", "a<b> <P>&amp; <p>&lt;q&gt; [Markup('<a>')]"},
};

const Case kUnicodeCases[] = {
    {"{{ 'straße ÉCOLE ǆ'|upper }} {{ 'ÉCOLE İ'|lower }} {{ 'ΟΔΟΣ ΣΑΣ'|lower }} {{ 'ǆemal "
     "ßa'|title }} {{ 'ǆemal'.title() }} {{ 'éCOLE'.capitalize() }}",
     "{}", "STRASSE ÉCOLE Ǆ école i̇ οδος σας Ǆemal SSa ǅemal École"},
    {"{{ 'héllo' is lower }} {{ 'HÉLLO' is upper }} {{ '日本' is lower }} {{ 'Ünïcödé'.swapcase is "
     "defined }} {{ ['b', 'É', 'a']|sort }}",
     "{}", "True True False True ['a', 'b', 'É']"},
};

const Case kFormattingCases[] = {
    {"{{ '%s|%r|%d|%5.1f|%-4s|%x|%%' % ('a', 'b', 3, 2.25, 'z', 255) }} {{ '%s' % [1, 2] }} {{ 'no "
     "args' % {} }} {{ '%(k)s' % {'k': 'v'} }} {{ 'x' % missing }}",
     "{}", "a|'b'|3|  2.2|z   |ff|% [1, 2] no args v x"},
};
template <size_t N>
void Check(const Case (&cases)[N]) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.source);
    absl::StatusOr<ChatTemplate> t = ChatTemplate::Compile(c.source);
    ASSERT_TRUE(t.ok()) << t.status();
    absl::StatusOr<std::string> out = t->Render(nlohmann::ordered_json::parse(c.variables));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(*out, c.expected);
  }
}

TEST(ChatTemplateConstructsTest, Whitespace) { Check(kWhitespaceCases); }
TEST(ChatTemplateConstructsTest, Literals) { Check(kLiteralsCases); }
TEST(ChatTemplateConstructsTest, Operators) { Check(kOperatorsCases); }
TEST(ChatTemplateConstructsTest, Access) { Check(kAccessCases); }
TEST(ChatTemplateConstructsTest, Statements) { Check(kStatementsCases); }
TEST(ChatTemplateConstructsTest, Filters) { Check(kFiltersCases); }
TEST(ChatTemplateConstructsTest, Tests) { Check(kTestsCases); }
TEST(ChatTemplateConstructsTest, Methods) { Check(kMethodsCases); }
TEST(ChatTemplateConstructsTest, Scoping) { Check(kScopingCases); }
TEST(ChatTemplateConstructsTest, Markup) { Check(kMarkupCases); }
TEST(ChatTemplateConstructsTest, Unicode) { Check(kUnicodeCases); }
TEST(ChatTemplateConstructsTest, Formatting) { Check(kFormattingCases); }

}  // namespace
}  // namespace strata::server
