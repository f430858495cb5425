/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * perf's TRACING_DATA blob from the live tracefs (see internal/tracedata.h). The layout is
 * what tools/perf/util/trace-event-info.c writes and lib/tracepoint.c reads; a recorder
 * needs it once, for a handful of tracepoints, so it is built in memory in one pass.
 */
#include <stdlib.h>
#include <unistd.h>

#include <tracefs/tracefs.h>

#include "internal/tracedata.h"
#include "internal/util.h"

/* A growable byte buffer with a sticky error. */
struct out {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void put(struct out *o, const void *v, size_t n)
{
	if (o->err)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		uint8_t *np;

		while (cap < o->len + n)
			cap *= 2;
		np = realloc(o->p, cap);
		if (!np) {
			o->err = -ENOMEM;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, v, n);
	o->len += n;
}

static void put_u32(struct out *o, uint32_t v)
{
	put(o, &v, sizeof(v));
}

static void put_u64(struct out *o, uint64_t v)
{
	put(o, &v, sizeof(v));
}

/* A tracefs file: its size as u64, then its bytes. -errno when it cannot be read. */
static int put_file(struct out *o, char *text, int size, const char *what)
{
	if (!text) {
		int err = errno ? -errno : -ENOENT;

		pps_err("tracefs %s/%s: %s", tracefs_tracing_dir() ? tracefs_tracing_dir() : "?",
			what, strerror(-err));
		return err;
	}
	put_u64(o, (uint64_t)(size > 0 ? size : 0));
	put(o, text, size > 0 ? (size_t)size : 0);
	free(text);
	return 0;
}

/* Whether tps[i] is the first of its system in tps[0..i]. */
static bool first_of_system(const struct pps_tp_name *tps, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (!strcmp(tps[j].system, tps[i].system))
			return false;
	return true;
}

bool pps_tracedata_exists(const char *system, const char *name)
{
	return tracefs_event_file_exists(NULL, system, name, "format");
}

const char *pps_tracedata_unusable(void)
{
	static char why[256];
	const char *dir = tracefs_tracing_dir();

	if (!dir)
		return "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)";
	if (access(dir, R_OK | X_OK)) {
		snprintf(why, sizeof(why),
			 "tracefs (%s) is not readable by this user: tracepoints need root or "
			 "CAP_PERFMON, and read access to tracefs",
			 dir);
		return why;
	}
	return NULL;
}

int pps_tracedata_build(const struct pps_tp_name *tps, size_t n, void **blob, size_t *size)
{
	static const uint8_t magic[10] = {23, 8, 68, 't', 'r', 'a', 'c', 'i', 'n', 'g'};
	struct out o = {0};
	uint32_t nsys = 0;
	int psize = 0;
	char *text;
	long page = sysconf(_SC_PAGESIZE);
	uint8_t endian = 0, long_size = sizeof(long);
	int err = 0;

	*blob = NULL;
	*size = 0;
	/* Every tracepoint first, so that a missing one is the error, not a half blob. */
	for (size_t i = 0; i < n; i++) {
		if (!tracefs_event_file_exists(NULL, tps[i].system, tps[i].name, "format")) {
			const char *why = pps_tracedata_unusable();

			if (why) {
				pps_err("tracepoint %s:%s: %s", tps[i].system, tps[i].name, why);
				return -EACCES;
			}
			pps_err("tracepoint %s:%s does not exist (no %s/events/%s/%s/format)",
				tps[i].system, tps[i].name, tracefs_tracing_dir(), tps[i].system,
				tps[i].name);
			return -ENOENT;
		}
	}
	put(&o, magic, sizeof(magic));
	put(&o, "0.6", 4);
	endian = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
	put(&o, &endian, 1);
	put(&o, &long_size, 1);
	put_u32(&o, (uint32_t)(page > 0 ? page : 4096));

	errno = 0;
	put(&o, "header_page", 12);
	text = tracefs_instance_file_read(NULL, "events/header_page", &psize);
	err = put_file(&o, text, psize, "events/header_page");
	if (err)
		goto out_free;
	put(&o, "header_event", 13);
	text = tracefs_instance_file_read(NULL, "events/header_event", &psize);
	err = put_file(&o, text, psize, "events/header_event");
	if (err)
		goto out_free;

	put_u32(&o, 0); /* no ftrace events */
	for (size_t i = 0; i < n; i++)
		nsys += first_of_system(tps, i);
	put_u32(&o, nsys);
	for (size_t i = 0; i < n && !err; i++) {
		uint32_t count = 0;

		if (!first_of_system(tps, i))
			continue;
		for (size_t j = i; j < n; j++)
			count += !strcmp(tps[j].system, tps[i].system);
		put(&o, tps[i].system, strlen(tps[i].system) + 1);
		put_u32(&o, count);
		for (size_t j = i; j < n && !err; j++) {
			char what[512];

			if (strcmp(tps[j].system, tps[i].system))
				continue;
			snprintf(what, sizeof(what), "events/%s/%s/format", tps[j].system,
				 tps[j].name);
			errno = 0;
			text = tracefs_event_file_read(NULL, tps[j].system, tps[j].name, "format",
						       &psize);
			err = put_file(&o, text, psize, what);
		}
	}
	put_u32(&o, 0); /* kallsyms: the symbolizer reads the kernel's own */
	put_u32(&o, 0); /* printk formats: none of ours prints through bprint */
	put_u64(&o, 0); /* saved cmdlines: COMM records name the threads */
	err = err ?: o.err;
	if (err)
		goto out_free;
	*blob = o.p;
	*size = o.len;
	return 0;

out_free:
	free(o.p);
	return err;
}
