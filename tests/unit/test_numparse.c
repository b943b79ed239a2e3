#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "expfmt.h"
#include "lineproto.h"
#include "numparse.h"
/* test_numparse.c: pf_parse_float must agree with strtod bit for bit on
 * decimal texts (its fast path must round exactly as strtod does), and
 * refuse what Prometheus refuses. Random texts from a fixed seed. */
int main(void)
{
	char buf[64]; unsigned long bad = 0, n = 0;
	srand(42);
	for (int k = 0; k < 1000000; k++) {
		int len = 1 + rand() % 20; int o = 0;
		if (rand() % 4 == 0) buf[o++] = '-';
		int dot = rand() % (len + 1);
		for (int j = 0; j < len; j++) { if (j == dot && j) buf[o++] = '.'; buf[o++] = '0' + rand() % 10; }
		if (rand() % 3 == 0) o += sprintf(buf + o, "e%d", rand() % 80 - 40);
		buf[o] = 0;
		double a, b = strtod(buf, NULL);
		if (pf_parse_float(buf, o, &a) != 0) { if (isfinite(b)) { bad++; if (bad < 5) printf("refused %s\n", buf);} continue; }
		n++;
		if (memcmp(&a, &b, sizeof a) != 0) { bad++; if (bad < 10) printf("%s: %.17g vs %.17g\n", buf, a, b); }
	}
	static const char *const refused[] = { "0x10", "1_000", "0x1p-3", "1e999", "", ".", "e5", "1e", "+nan", "1.5.", "--1" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		double v;
		if (pf_parse_float(refused[i], strlen(refused[i]), &v) == 0) {
			printf("accepted '%s'\n", refused[i]);
			bad++;
		}
	}
	static const struct { const char *s; double v; } ok[] = {
		{ "5.", 5 }, { ".5", 0.5 }, { "+1", 1 }, { "-0", -0.0 }, { "1E3", 1000 },
		{ "9007199254740993", 9007199254740992.0 }, { "1e-400", 0 }, { "1.7976931348623157e308", 1.7976931348623157e308 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		double v;
		if (pf_parse_float(ok[i].s, strlen(ok[i].s), &v) != 0 || v != ok[i].v || signbit(v) != signbit(ok[i].v)) {
			printf("'%s' wrong\n", ok[i].s);
			bad++;
		}
	}
	/* pf_parse_float_lp: the same value as pf_parse_float, and its "valid
	 * line protocol" bit is only ever set for a text the encoder's own
	 * check accepts (the bit lets the encoder skip that check). Random
	 * texts over the float alphabet, so both verdicts occur. */
	static const char alpha[] = "0123456789.eE+-naiNfINF";
	unsigned long lp_set = 0;
	for (int k = 0; k < 300000; k++) {
		int o = 1 + rand() % 12;
		for (int j = 0; j < o; j++)
			buf[j] = alpha[rand() % (int)(sizeof alpha - 1)];
		buf[o] = 0;
		double a = 0, b = 0;
		int lp = -1;
		int ra = pf_parse_float_lp(buf, (size_t)o, &a, &lp), rb = pf_parse_float(buf, (size_t)o, &b);
		if (ra != rb || (ra == 0 && memcmp(&a, &b, sizeof a) != 0)) {
			bad++;
			if (bad < 10)
				printf("pf_parse_float_lp('%s') differs from pf_parse_float\n", buf);
		}
		if (ra == 0 && lp) {
			lp_set++;
			if (!pf_lp_float_text_ok(pf_str_c(buf))) {
				bad++;
				if (bad < 10)
					printf("'%s': marked valid line protocol, the encoder refuses it\n", buf);
			}
		}
	}
	if (lp_set == 0) {
		printf("pf_parse_float_lp never marked a text valid line protocol\n");
		bad++;
	}
	/* pf_lp_float_span: whatever it takes, pf_parse_float_lp takes with
	 * *lp = 1, and it ends at the end or at a blank. Random texts as
	 * above plus a blank, and the common forms it must take. */
	static const char alpha2[] = "0123456789.eE+- ";
	unsigned long spans = 0;
	for (int k = 0; k < 300000; k++) {
		int o = 1 + rand() % 14;
		for (int j = 0; j < o; j++)
			buf[j] = alpha2[rand() % (int)(sizeof alpha2 - 1)];
		buf[o] = 0;
		size_t m = pf_lp_float_span(buf, (size_t)o);
		if (m == 0)
			continue;
		spans++;
		double a;
		int lp = 0;
		if (m > (size_t)o || (m < (size_t)o && buf[m] != ' ') || pf_parse_float_lp(buf, m, &a, &lp) != 0 || !lp) {
			bad++;
			if (bad < 10)
				printf("pf_lp_float_span('%s') = %zu: not a float line protocol takes\n", buf, m);
		}
	}
	static const struct { const char *s; size_t m; } span[] = {
		{ "0", 1 }, { "-1.5", 4 }, { "1.2345e+06 123", 10 }, { "3.5E-5", 6 }, { "5.", 2 },
		{ "123456789012345", 15 }, { "1e22", 4 }, { "1.5e-21", 7 },
		{ "1234567890123456", 0 }, { "1e23", 0 }, { "1.5e-22", 0 }, { "1e1234", 0 }, { "+1", 0 },
		{ ".5", 0 }, { "NaN", 0 }, { "1\t", 0 }, { "1x", 0 }, { "", 0 }, { "-", 0 }, { "1e", 0 },
	};
	for (size_t i = 0; i < sizeof span / sizeof span[0]; i++)
		if (pf_lp_float_span(span[i].s, strlen(span[i].s)) != span[i].m) {
			printf("pf_lp_float_span('%s') = %zu, want %zu\n", span[i].s,
			       pf_lp_float_span(span[i].s, strlen(span[i].s)), span[i].m);
			bad++;
		}
	if (spans == 0) {
		printf("pf_lp_float_span never took a random text\n");
		bad++;
	}
	printf("%lu checked, %lu differ\n", n, bad);
	return bad != 0;
}
