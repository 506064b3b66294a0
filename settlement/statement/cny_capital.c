/*
 * cny_capital.c — renminbi in capital numerals; the convention is in
 * cny_capital.h. The integer part is read in groups of four digits (亿,
 * 万, units) from the highest, as Chinese numbers are read: a zero at the
 * head or inside a group, or a whole group of zeros, is remembered and
 * written as one 零 before the next non-zero digit (so a run of zeros,
 * also across groups, is one 零); zeros at the end of a group are not
 * read (107,000 → 壹拾万柒仟).
 */
#include "cny_capital.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

static const char *const DIGIT[10] = {
	"零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖",
};
static const char *const IN_GROUP[4] = { "", "拾", "佰", "仟" };
static const char *const GROUP[3] = { "", "万", "亿" };

struct buf {
	char *p;
	size_t size, len;
	bool overflow;
};

static void put(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->len + n + 1 > b->size) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

/* The integer yuan (0 < yuan < 10^12): groups of four from 亿 down. */
static void put_yuan(struct buf *b, int64_t yuan)
{
	assert(yuan > 0 && yuan < INT64_C(1000000000000));
	bool started = false, zero = false;
	for (int g = 2; g >= 0; g--) {
		int64_t scale = g == 2 ? INT64_C(100000000) : g == 1 ? 10000 : 1;
		int group = (int)(yuan / scale % 10000);
		for (int k = 3; k >= 0; k--) {
			int unit = k == 3 ? 1000 : k == 2 ? 100 : k == 1 ? 10 : 1;
			int d = group / unit % 10;
			if (d == 0) {
				/* a zero before a non-zero digit of its group, or a
				 * whole group of zeros, is read (once) after a
				 * non-zero digit; one at the end of a group is not */
				if (group % unit != 0 || group == 0)
					zero = zero || started;
				continue;
			}
			if (zero)
				put(b, DIGIT[0]);
			zero = false;
			started = true;
			put(b, DIGIT[d]);
			put(b, IN_GROUP[k]);
		}
		if (group != 0)
			put(b, GROUP[g]);
	}
}

int bs_cny_capital(int64_t fen, char *out, size_t out_size)
{
	assert(out != NULL && out_size > 0);
	out[0] = '\0';
	if (fen > BS_CNY_CAPITAL_MAX_FEN || fen < -BS_CNY_CAPITAL_MAX_FEN)
		return -1;
	struct buf b = { out, out_size, 0, false };
	if (fen < 0)
		put(&b, "负");
	int64_t abs_fen = fen < 0 ? -fen : fen;
	int64_t yuan = abs_fen / 100;
	int jiao = (int)(abs_fen / 10 % 10), cents = (int)(abs_fen % 10);

	if (yuan > 0) {
		put_yuan(&b, yuan);
		put(&b, "元");
	} else if (jiao == 0 && cents == 0) {
		put(&b, "零元");
	}
	if (jiao != 0) {
		put(&b, DIGIT[jiao]);
		put(&b, "角");
	} else if (cents != 0 && yuan > 0) {
		put(&b, DIGIT[0]);
	}
	if (cents != 0) {
		put(&b, DIGIT[cents]);
		put(&b, "分");
	}
	if (jiao == 0 && cents == 0)
		put(&b, "整");
	if (b.overflow) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}
