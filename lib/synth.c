/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Side-band records from /proc (see internal/synth.h).
 *
 * Facts that shaped it:
 * - A machine has hundreds of processes and thousands of threads, each read once at the
 *   start of a recording: /proc files are read with stdio, one line at a time, and the
 *   records built in one stack buffer.
 * - Processes come and go while we read: a pid or tid whose files vanish is skipped, not
 *   an error, except for the process asked for by pid (ESRCH, the recorder's "target pid
 *   vanished").
 * - Only executable mappings are synthesized, as perf does without --data: samples and
 *   callchains only point into code. DWARF call graphs add the readable ones (see
 *   struct pps_synth's data), as perf does for them.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <perf/event.h>

#include "internal/kallsyms.h"
#include "internal/synth.h"
#include "internal/util.h"

/* Biggest record: an MMAP2 with a PATH_MAX name and the trailer. */
#define REC_MAX (sizeof(struct perf_record_mmap2) + 32 + 8)

struct rec {
	uint64_t words[REC_MAX / 8]; /* 8-byte aligned */
	size_t len;
};

static const char *proc_root(const struct pps_synth *s)
{
	return s->proc ? s->proc : "/proc";
}

/* Appends the sample_id_all trailer (PPS_SYNTH_ID_TYPE) and emits the record. */
static int emit(const struct pps_synth *s, struct rec *r, uint32_t type, uint16_t misc, int32_t pid,
		int32_t tid)
{
	struct perf_event_header h = {.type = type, .misc = misc};
	uint32_t ids[2] = {(uint32_t)pid, (uint32_t)tid};
	uint64_t trailer[4];
	uint8_t *p = (uint8_t *)r->words;

	memcpy(&trailer[0], ids, 8);
	trailer[1] = s->time;
	trailer[2] = 0; /* cpu 0, reserved 0 */
	trailer[3] = s->id;
	r->len = PPS_ALIGN8(r->len);
	memcpy(p + r->len, trailer, sizeof(trailer));
	r->len += sizeof(trailer);
	h.size = (uint16_t)r->len;
	memcpy(p, &h, sizeof(h));
	return s->emit(p, r->len, s->ctx);
}

/* Starts a record: zeroes it and leaves room for the header. */
static uint8_t *rec_begin(struct rec *r)
{
	memset(r->words, 0, sizeof(r->words));
	r->len = sizeof(struct perf_event_header);
	return (uint8_t *)r->words;
}

/* Appends a NUL-terminated string, cut to max - 1 bytes. */
static void rec_string(struct rec *r, const char *str, size_t max)
{
	size_t n = strnlen(str, max - 1);

	memcpy((uint8_t *)r->words + r->len, str, n);
	r->len += n + 1; /* the NUL is there: rec_begin zeroed the buffer */
}

static void rec_put(struct rec *r, const void *v, size_t n)
{
	memcpy((uint8_t *)r->words + r->len, v, n);
	r->len += n;
}

/* The addresses of _text and _etext in one pass over kallsyms (it runs to megabytes);
 * 0 when absent or hidden. A module's symbol of either name does not count. */
static void kernel_text(FILE *f, uint64_t *text, uint64_t *etext)
{
	char line[512];

	*text = *etext = 0;
	while ((!*text || !*etext) && fgets(line, sizeof(line), f)) {
		struct pps_ksym_line l;

		if (!pps_kallsyms_split(line, &l) || l.module)
			continue;
		if (!strcmp(l.name, "_text"))
			*text = l.addr;
		else if (!strcmp(l.name, "_etext"))
			*etext = l.addr;
	}
}

int pps_synth_kernel(const struct pps_synth *s)
{
	static const char kernel_name[] = "[kernel.kallsyms]_text";
	char path[PATH_MAX], line[512], name[256];
	uint64_t text, etext;
	struct rec r;
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/kallsyms", proc_root(s));
	f = fopen(path, "re");
	if (!f) {
		pps_warn("%s: %s: kernel frames will stay unresolved", path, strerror(errno));
		return 0;
	}
	kernel_text(f, &text, &etext);
	fclose(f);
	if (!text) {
		pps_warn("%s: no _text address (kernel.kptr_restrict?): kernel frames will stay "
			 "unresolved",
			 path);
		return 0;
	}
	if (etext <= text)
		etext = UINT64_MAX; /* the converter extends the kernel map anyway */
	rec_begin(&r);
	{
		uint32_t pid_tid[2] = {UINT32_MAX, 0}; /* perf's host kernel pid -1 */
		uint64_t v[3] = {text, etext - text, text};

		rec_put(&r, pid_tid, sizeof(pid_tid));
		rec_put(&r, v, sizeof(v));
	}
	rec_string(&r, kernel_name, sizeof(kernel_name));
	err = emit(s, &r, PERF_RECORD_MMAP, PERF_RECORD_MISC_KERNEL, -1, 0);
	if (err)
		return err;

	snprintf(path, sizeof(path), "%s/modules", proc_root(s));
	f = fopen(path, "re");
	if (!f)
		return 0; /* a kernel without modules */
	while (!err && fgets(line, sizeof(line), f)) {
		unsigned long long size, addr;
		char mod[258];

		/* "ext4 999424 1 - Live 0xffffffffc0123000" */
		if (sscanf(line, "%255s %llu %*s %*s %*s %llx", name, &size, &addr) != 3 || !addr ||
		    !size)
			continue;
		snprintf(mod, sizeof(mod), "[%s]", name);
		rec_begin(&r);
		{
			uint32_t pid_tid[2] = {UINT32_MAX, 0};
			uint64_t v[3] = {addr, size, 0};

			rec_put(&r, pid_tid, sizeof(pid_tid));
			rec_put(&r, v, sizeof(v));
		}
		rec_string(&r, mod, sizeof(mod));
		err = emit(s, &r, PERF_RECORD_MMAP, PERF_RECORD_MISC_KERNEL, -1, 0);
	}
	fclose(f);
	return err;
}

/* The thread's name from comm (without its newline); false when the thread is gone. */
static bool read_comm(const char *path, char *comm, size_t size)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(comm, (int)size, f) != NULL;
	fclose(f);
	if (ok)
		comm[strcspn(comm, "\n")] = '\0';
	return ok;
}

static int synth_comms(const struct pps_synth *s, int32_t pid, bool *any)
{
	char path[PATH_MAX], comm[32];
	struct dirent *d;
	struct rec r;
	DIR *dir;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%d/task", proc_root(s), (int)pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while (!err && (d = readdir(dir))) {
		char *end;
		long tid = strtol(d->d_name, &end, 10);

		if (*end || end == d->d_name || tid <= 0 || tid > INT32_MAX)
			continue;
		snprintf(path, sizeof(path), "%s/%d/task/%ld/comm", proc_root(s), (int)pid, tid);
		if (!read_comm(path, comm, sizeof(comm)))
			continue; /* exited meanwhile */
		rec_begin(&r);
		{
			uint32_t pid_tid[2] = {(uint32_t)pid, (uint32_t)tid};

			rec_put(&r, pid_tid, sizeof(pid_tid));
		}
		rec_string(&r, comm, 16);
		err = emit(s, &r, PERF_RECORD_COMM, 0, pid, (int32_t)tid);
		*any = true;
	}
	closedir(dir);
	return err;
}

/*
 * One /proc/PID/maps line to an MMAP2 record and its misc; false for lines that are not
 * executable mappings (with data: readable ones) or not understood.
 */
static bool maps_line(const char *line, int32_t pid, bool data, struct rec *r, uint16_t *misc)
{
	unsigned long long start, end, pgoff, ino;
	unsigned int maj, min;
	char perms[8];
	int n = 0;
	const char *name;
	uint32_t prot = 0, flags;

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &pgoff, &maj,
		   &min, &ino, &n) != 7 ||
	    !n || strlen(perms) < 4 || end <= start ||
	    (perms[2] != 'x' && (!data || perms[0] != 'r')))
		return false;
	name = line + n;
	while (isspace((unsigned char)*name))
		name++;
	prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
	       (perms[2] == 'x' ? PROT_EXEC : 0);
	*misc = PERF_RECORD_MISC_USER | (perms[2] == 'x' ? 0 : PERF_RECORD_MISC_MMAP_DATA);
	flags = perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
	rec_begin(r);
	{
		uint32_t pid_tid[2] = {(uint32_t)pid, (uint32_t)pid};
		uint64_t v[3] = {start, end - start, pgoff};
		uint32_t dev[2] = {maj, min};
		uint64_t inode[2] = {ino, 0};
		uint32_t pf[2] = {prot, flags};

		rec_put(r, pid_tid, sizeof(pid_tid));
		rec_put(r, v, sizeof(v));
		rec_put(r, dev, sizeof(dev));
		rec_put(r, inode, sizeof(inode));
		rec_put(r, pf, sizeof(pf));
	}
	if (*name)
		rec_string(r, name, PATH_MAX);
	else
		rec_string(r, "//anon", PATH_MAX); /* perf's name for anonymous code (JITs) */
	return true;
}

static int synth_maps(const struct pps_synth *s, int32_t pid)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	struct rec r;
	uint16_t misc;
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%d/maps", proc_root(s), (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (!err && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (maps_line(line, pid, s->data, &r, &misc))
			err = emit(s, &r, PERF_RECORD_MMAP2, misc, pid, pid);
	}
	free(line);
	fclose(f);
	return err;
}

int pps_synth_process(const struct pps_synth *s, int32_t pid)
{
	bool any = false;
	int err = synth_comms(s, pid, &any);

	if (!err && !any)
		err = -ESRCH;
	if (!err) {
		err = synth_maps(s, pid);
		/* A kernel thread has an empty maps file; a process that exited since its
		 * comms were read keeps them (its samples may still be in the buffers). */
		if (err == -ESRCH)
			err = 0;
	}
	return err;
}

int pps_synth_all(const struct pps_synth *s)
{
	struct dirent *d;
	DIR *dir = opendir(proc_root(s));
	int err = 0;

	if (!dir)
		return -errno;
	while (!err && (d = readdir(dir))) {
		char *end;
		long pid = strtol(d->d_name, &end, 10);

		if (*end || end == d->d_name || pid <= 0 || pid > INT32_MAX)
			continue;
		err = pps_synth_process(s, (int32_t)pid);
		if (err == -ESRCH || err == -EACCES || err == -EPERM)
			err = 0; /* gone meanwhile, or not ours to read */
	}
	closedir(dir);
	return err;
}
