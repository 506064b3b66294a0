/*
 * cny_capital.h — an amount of renminbi in fen written in Chinese capital
 * numerals (大写金额), as in the 价税合计（大写） box of a VAT fapiao:
 * 1234.56 yuan → 壹仟贰佰叁拾肆元伍角陆分.
 *
 * The convention (the People's Bank of China's rules for filling in
 * amounts on bills, as fapiao software prints them; README "Finance's
 * documents"):
 *   - digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟 within a group of four
 *     digits, group units 万 and 亿; a leading 拾 is always 壹拾 (10 →
 *     壹拾元整, 100,000 → 壹拾万元整);
 *   - the integer part is read in groups of four digits, as numbers are
 *     read aloud: zeros at the head or inside a group, or a whole group
 *     of zeros, between non-zero digits are one 零 however many (1,409 →
 *     壹仟肆佰零玖元整; 10,005 → 壹万零伍元整; 10,010,000 →
 *     壹仟零壹万元整; 100,000,005 → 壹亿零伍元整); zeros at the end of a
 *     group are not read (107,000 → 壹拾万柒仟元整, one of the two forms
 *     the rules allow; 10,000 → 壹万元整);
 *   - 整 after 元 when there are neither jiao nor fen; none after 角
 *     (5.50 → 伍元伍角) and never after 分;
 *   - jiao 0 and fen not 0: 零 between 元 and the fen (325.04 →
 *     叁佰贰拾伍元零肆分); a units digit of 0 before a non-zero jiao adds no
 *     零 (1,680.32 → 壹仟陆佰捌拾元叁角贰分; the rules allow both);
 *   - less than one yuan: no 零元 (0.05 → 伍分); zero is 零元整;
 *   - negative amounts (credit notes, red-letter fapiao) start with 负.
 * The largest magnitude is 999,999,999,999.99 yuan (玖仟玖佰玖拾玖亿…):
 * 万亿 and above are refused.
 */
#ifndef BS_CNY_CAPITAL_H
#define BS_CNY_CAPITAL_H

#include <stddef.h>
#include <stdint.h>

/* The largest magnitude written, in fen. */
#define BS_CNY_CAPITAL_MAX_FEN INT64_C(99999999999999)

/* Enough for any amount written (UTF-8, 3 bytes a character, at most 1 +
 * 3 × 8 + 2 + 1 + 4 characters and the NUL). */
#define BS_CNY_CAPITAL_SIZE 128

/* Writes fen as capital numerals into out (NUL-terminated). Returns 0, or
 * -1 when |fen| > BS_CNY_CAPITAL_MAX_FEN or out is too small (out is then
 * ""). */
int bs_cny_capital(int64_t fen, char *out, size_t out_size);

#endif
