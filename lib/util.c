/* SPDX-License-Identifier: BSD-2-Clause */
/* Logging, the corrupt-input breakpoint and small string helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pprofstore/pprofstore.h>

#include "internal/util.h"

static pps_log_fn log_fn;
static void *log_ctx;

PPS_API pps_log_fn pps_set_log(pps_log_fn fn, void *ctx)
{
	pps_log_fn old = log_fn;

	log_fn = fn;
	log_ctx = ctx;
	return old;
}

void pps_log(enum pps_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_fn(level, buf, log_ctx);
}

int pps_corrupt_bkpt(int line)
{
	pps_debug("corrupt input detected at %s:%d", __FILE__, line);
	return -EPROTO;
}

char *pps_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = malloc(len + 1);

	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

bool pps_cursor_string(struct pps_cursor *c, char **out)
{
	uint32_t len;
	const void *s;

	*out = NULL;
	if (!pps_cursor_u32(c, &len) || !pps_cursor_array(c, len, 1, &s))
		return false;
	*out = pps_strndup(s, len);
	return *out != NULL;
}

PPS_API const char *pps_version(void)
{
	return PPS_VERSION_STRING;
}

char *pps_hex(const uint8_t *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
/* Tables smaller than this fault in little enough. */
#define POPULATE_MIN ((size_t)1 << 20)
#define HUGE_ALIGN   ((uintptr_t)2 << 20) /* x86-64 and arm64 (4 KiB pages) */

void *pps_calloc_table(size_t n, size_t size)
{
	void *p = calloc(n, size);
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a, e;

	if (!p || n * size < POPULATE_MIN || !page)
		return p;
	a = ((uintptr_t)p + page - 1) & ~(page - 1);
	e = ((uintptr_t)p + n * size) & ~(page - 1);
	if (e > a) {
		uintptr_t ha = (a + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1), he = e & ~(HUGE_ALIGN - 1);

		if (he > ha) /* before the pages are made: THP "madvise" mode (Debian's default) */
			(void)madvise((void *)ha, he - ha, MADV_HUGEPAGE);
		(void)madvise((void *)a, e - a, MADV_POPULATE_WRITE); /* EINVAL before 5.14 */
	}
	return p;
}
