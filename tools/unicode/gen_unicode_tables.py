#!/usr/bin/env python3
"""Generates server/tokenizer/unicode_tables.cc from Python's unicodedata module.

The tables are whatever Unicode version this Python carries (Python 3.11: Unicode 14.0.0);
the version is written into the output as kUnicodeVersion. Run from the repository root:

    python3 tools/unicode/gen_unicode_tables.py > server/tokenizer/unicode_tables.cc

What is generated (see server/tokenizer/unicode_tables.h for the C++ side):
  * a two-stage property table, one byte of flags per code point:
      kLetter      general category L* (regex \\p{L})
      kNumber      general category N* (regex \\p{N})
      kWhiteSpace  White_Space; equal to Oniguruma's Unicode \\s (9-D, 85, Zs, Zl, Zp) and to
                   Rust regex's \\s, which the Hugging Face tokenizers library uses
      kWord        Rust regex's Unicode \\w: Alphabetic, M*, Nd, Pc, Join_Control
      kNfcMaybeNo  NFC_Quick_Check is not Yes, or the canonical combining class is not 0:
                   a string free of these is already in NFC
  * canonical combining classes (non-zero ones),
  * full canonical decompositions (Hangul syllables excluded: they are algorithmic),
  * canonical composition pairs of primary composites (composition exclusions left out).
"""

import sys
import unicodedata as ud

MAX_CP = 0x110000
BLOCK = 128

LETTER, NUMBER, WHITE_SPACE, WORD, NFC_MAYBE_NO = 1, 2, 4, 8, 16

# White_Space from PropList.txt; unchanged since Unicode 6.3.
WHITE_SPACE_LIST = set(
    list(range(0x09, 0x0E)) + [0x20, 0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) +
    [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])

# Alphabetic = L* + Nl + Other_Alphabetic. unicodedata has no Other_Alphabetic; apart from
# marks (already in \w through M*) it holds only these So ranges in Unicode 14.0 (checked
# against Perl's \p{Alphabetic}).
OTHER_ALPHABETIC_SYMBOLS = [(0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169),
                            (0x1F170, 0x1F189)]
JOIN_CONTROL = {0x200C, 0x200D}

S_BASE, L_BASE, V_BASE, T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
L_COUNT, V_COUNT, T_COUNT = 19, 21, 28
S_COUNT = L_COUNT * V_COUNT * T_COUNT


def is_hangul_syllable(cp):
    return S_BASE <= cp < S_BASE + S_COUNT


def canonical_mapping(cp):
    """The raw canonical decomposition mapping of cp, or None."""
    d = ud.decomposition(chr(cp))
    if not d or d.startswith('<'):
        return None
    return [int(x, 16) for x in d.split()]


def main():
    assert int(ud.unidata_version.split('.')[0]) >= 9, ud.unidata_version
    ws = {cp for cp in range(MAX_CP) if ud.category(chr(cp)) in ('Zs', 'Zl', 'Zp')}
    ws |= {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85}
    assert ws == WHITE_SPACE_LIST, sorted(ws ^ WHITE_SPACE_LIST)

    # Composition pairs and NFC_Quick_Check=Maybe characters (second halves of pairs).
    compositions = {}
    for cp in range(MAX_CP):
        if is_hangul_syllable(cp):
            continue
        m = canonical_mapping(cp)
        if m is None or len(m) != 2:
            continue
        c = chr(cp)
        # A primary composite is the NFC of itself; excluded ones (and non-starter
        # decompositions) are not.
        if ud.normalize('NFC', c) != c:
            continue
        compositions[(m[0], m[1])] = cp
    seconds = {b for (_, b) in compositions}
    seconds |= set(range(V_BASE, V_BASE + V_COUNT))
    seconds |= set(range(T_BASE + 1, T_BASE + T_COUNT))

    props = bytearray(MAX_CP)
    other_alpha = set()
    for lo, hi in OTHER_ALPHABETIC_SYMBOLS:
        other_alpha |= set(range(lo, hi + 1))
    for cp in range(MAX_CP):
        c = chr(cp)
        gc = ud.category(c)
        f = 0
        if gc[0] == 'L':
            f |= LETTER
        if gc[0] == 'N':
            f |= NUMBER
        if cp in WHITE_SPACE_LIST:
            f |= WHITE_SPACE
        if (gc[0] in 'LM' or gc in ('Nl', 'Nd', 'Pc') or cp in other_alpha or
                cp in JOIN_CONTROL):
            f |= WORD
        if 0xD800 <= cp <= 0xDFFF:
            pass  # surrogates never appear in valid UTF-8
        elif (ud.combining(c) != 0 or ud.normalize('NFC', c) != c or cp in seconds):
            f |= NFC_MAYBE_NO
        props[cp] = f

    blocks = {}
    stage1 = []
    for b in range(0, MAX_CP, BLOCK):
        key = bytes(props[b:b + BLOCK])
        if key not in blocks:
            blocks[key] = len(blocks)
        stage1.append(blocks[key])
    stage2 = b''.join(sorted(blocks, key=lambda k: blocks[k]))
    assert len(blocks) <= 256, len(blocks)  # stage 1 holds uint8_t block numbers

    ccc = [(cp, ud.combining(chr(cp))) for cp in range(MAX_CP)
           if not 0xD800 <= cp <= 0xDFFF and ud.combining(chr(cp)) != 0]

    decomps = []
    pool = []
    for cp in range(MAX_CP):
        if is_hangul_syllable(cp) or 0xD800 <= cp <= 0xDFFF:
            continue
        if canonical_mapping(cp) is None:
            continue
        full = [ord(x) for x in ud.normalize('NFD', chr(cp))]
        if full == [cp]:
            continue
        decomps.append((cp, len(pool), len(full)))
        pool.extend(full)
    assert len(pool) < 65536

    pairs = sorted(compositions.items())

    out = sys.stdout
    w = out.write
    w('// Generated by tools/unicode/gen_unicode_tables.py from Python %s unicodedata\n' %
      '.'.join(map(str, sys.version_info[:3])))
    w('// (Unicode %s). Do not edit by hand.\n' % ud.unidata_version)
    w('// clang-format off\n')
    w('#include "server/tokenizer/unicode_tables.h"\n\n')
    w('namespace strata::server::unicode_tables {\n\n')
    w('const char kUnicodeVersion[] = "%s";\n\n' % ud.unidata_version)

    def emit(decl, values, per_line, fmt='%d'):
        w('%s = {\n' % decl)
        for i in range(0, len(values), per_line):
            w('  ' + ','.join(fmt % v for v in values[i:i + per_line]) + ',\n')
        w('};\n\n')

    w('static_assert(kPropertyBlockSize == %d);\n' % BLOCK)
    emit('const uint8_t kPropertyStage1[%d]' % len(stage1), stage1, 40)
    w('const int kPropertyBlockCount = %d;\n' % len(blocks))
    emit('const uint8_t kPropertyStage2[%d]' % len(stage2), list(stage2), 64)
    w('const int kCombiningClassCount = %d;\n' % len(ccc))
    emit('const CombiningClass kCombiningClasses[%d]' % len(ccc),
         ['{0x%X,%d}' % x for x in ccc], 10, '%s')
    w('const int kDecompositionCount = %d;\n' % len(decomps))
    emit('const Decomposition kDecompositions[%d]' % len(decomps),
         ['{0x%X,%d,%d}' % x for x in decomps], 8, '%s')
    emit('const uint32_t kDecompositionPool[%d]' % len(pool), ['0x%X' % x for x in pool], 12,
         '%s')
    w('const int kCompositionCount = %d;\n' % len(pairs))
    emit('const Composition kCompositions[%d]' % len(pairs),
         ['{0x%X,0x%X,0x%X}' % (a, b, c) for (a, b), c in pairs], 6, '%s')
    w('}  // namespace strata::server::unicode_tables\n')


if __name__ == '__main__':
    main()
