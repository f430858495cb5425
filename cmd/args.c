/* SPDX-License-Identifier: BSD-2-Clause */
/* Command-line value parsing shared by perf2pprof and pprofstore. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

bool cmd_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {{"ns", 1},	  {"us", 1e3},	 {"ms", 1e6},	 {"s", 1e9},
		     {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}, {"", 1e9}};
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(end, units[i].suffix)) {
			double r = v * units[i].mult;

			if (r >= 1.8e19)
				return false;
			*ns = (uint64_t)r;
			return true;
		}
	}
	return false;
}
