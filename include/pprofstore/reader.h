/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_reader: a streaming reader for perf.data, file mode and pipe mode, perf 3.x to 6.x.
 *
 * The reader hands out one record at a time and never holds the whole file: memory is
 * bounded by the largest record (64 KiB), the zstd window of `perf record -z` files, and,
 * in ordered mode, the records of two FINISHED_ROUND rounds (capped, see opts).
 *
 * Records are validated before they are handed out: a record is delivered only when
 * every fixed field of its type lies inside it and its strings are NUL-terminated inside
 * it, so consumers may cast pps_event.raw to libperf's `union perf_event` (perf/event.h)
 * for the types listed in the README. Records that fail validation are skipped, counted
 * in pps_reader_stats() and reported through the log callback with their file offset,
 * type and reason. A truncated file delivers every complete record and then reports what
 * was lost.
 */
#ifndef PPROFSTORE_READER_H
#define PPROFSTORE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/perf_event.h>

#include <pprofstore/log.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pps_reader;
struct pps_evsel;

/* pps_sample.time when the record carries no timestamp. */
#define PPS_NO_TIME UINT64_MAX

/*
 * The fields of one sample, decoded with the attr of the event that produced it. Fields
 * that the sample_type does not carry are zero (time: PPS_NO_TIME). Pointers point into
 * the record and stay valid until the next pps_reader_next() call.
 *
 * For records other than PERF_RECORD_SAMPLE only the sample_id_all trailer is decoded
 * (pid, tid, time, id, stream_id, cpu), when the attr has sample_id_all.
 */
struct pps_evsel;

/* One counter's share of a PERF_SAMPLE_READ sample (see pps_sample.read_values). */
struct pps_read_value {
	struct pps_evsel *evsel;
	uint64_t period;
};

struct pps_sample {
	uint64_t type;		/* sample_type used to decode this record */
	uint64_t ip;
	uint32_t pid, tid;
	uint64_t time;
	uint64_t addr;
	uint64_t id;
	uint64_t stream_id;
	uint32_t cpu;
	uint64_t period;

	/* PERF_SAMPLE_READ: the raw u64 words of the read_format layout. */
	uint32_t read_nr_words;
	const uint64_t *read_words;
	/*
	 * PERF_SAMPLE_READ with PERF_FORMAT_ID (leader sampling, perf record -e '{a,b}:S'),
	 * as perf delivers it: read_split is set, and the record stands for one sample per
	 * counter whose value grew since that counter's previous sample, of that counter's
	 * event, with the growth as its period (the record's own event and period are not
	 * used); nr_read_values of them, maybe 0. Filled by pps_reader_next().
	 */
	bool read_split;
	uint32_t nr_read_values;
	const struct pps_read_value *read_values;

	/* PERF_SAMPLE_CALLCHAIN, PERF_CONTEXT_* markers included. */
	uint64_t callchain_nr;
	const uint64_t *callchain;
	/* With PPS_READER_CALLCHAIN_HASH, a 128-bit hash of the callchain's words (two
	 * independent 64-bit lanes); else, and without a callchain, zero. */
	uint64_t callchain_hash[2];

	/* PERF_SAMPLE_RAW: tracepoint or PMU payload. */
	uint32_t raw_size;
	const void *raw_data;

	/* PERF_SAMPLE_BRANCH_STACK. */
	uint64_t branch_nr;
	bool branch_has_hw_idx; /* attr.branch_sample_type has PERF_SAMPLE_BRANCH_HW_INDEX */
	uint64_t branch_hw_idx;
	const struct perf_branch_entry *branch;

	/* PERF_SAMPLE_REGS_USER / REGS_INTR: abi 0 means no registers were captured. */
	uint64_t user_regs_abi;
	uint64_t user_regs_mask;
	uint32_t user_regs_nr;
	const uint64_t *user_regs;
	uint64_t intr_regs_abi;
	uint64_t intr_regs_mask;
	uint32_t intr_regs_nr;
	const uint64_t *intr_regs;

	/* PERF_SAMPLE_STACK_USER: size bytes copied, of which dyn_size are valid. */
	uint64_t user_stack_size;
	uint64_t user_stack_dyn_size;
	const void *user_stack;

	/* PERF_SAMPLE_WEIGHT: weight; PERF_SAMPLE_WEIGHT_STRUCT: the three parts. */
	uint64_t weight;
	uint32_t weight_var1;
	uint16_t weight_var2;
	uint16_t weight_var3;

	uint64_t data_src;
	uint64_t transaction;
	uint64_t phys_addr;
	uint64_t cgroup;
	uint64_t data_page_size;
	uint64_t code_page_size;

	/* PERF_SAMPLE_AUX. */
	uint64_t aux_size;
	const void *aux_data;
};

/* One record, valid until the next pps_reader_next() or pps_reader_free(). */
struct pps_event {
	uint32_t type;	/* PERF_RECORD_* (kernel) or PERF_RECORD_HEADER_* etc. (perf user types) */
	uint16_t misc;
	uint16_t size;	/* header.size: bytes at raw */
	uint64_t offset; /* file offset of the record; inside a COMPRESSED record, that record's */
	bool compressed; /* decompressed from a PERF_RECORD_COMPRESSED record */
	const void *raw; /* the record, header included, 8-byte aligned */
	struct pps_evsel *evsel; /* the event that produced it, NULL when unknown */
	struct pps_sample sample;
	/* Bytes that followed the record in the stream and were consumed with it (AUXTRACE
	 * trace data, pipe-mode tracing data); not delivered. */
	uint64_t trailing_size;
};

enum pps_reader_flags {
	/* Deliver kernel records in timestamp order, bounded by FINISHED_ROUND as perf does. */
	PPS_READER_ORDERED = (1 << 0),
	/* Read and decode on a second thread, ahead of the caller (not for a fed reader).
	 * Events are the same. Between pps_reader_next() calls the caller may use the
	 * accessors of what the header and the stream's header records tell (path, env,
	 * events, build-ids, tracing data), not pps_reader_stats() until the end (0 or an
	 * error) has been returned. Log messages come from that thread. */
	PPS_READER_THREAD = (1 << 1),
	/* Fill sample.callchain_hash, on the reading thread: a caller keying samples by
	 * stack need not read the callchain of one it has seen. */
	PPS_READER_CALLCHAIN_HASH = (1 << 2),
};

struct pps_reader_opts {
	size_t sz; /* sizeof(struct pps_reader_opts) */
	unsigned int flags; /* enum pps_reader_flags */
	/* Ordered mode: records queued beyond this many bytes flush the older half early
	 * (0: 64 MiB). Files whose writer never emitted FINISHED_ROUND rely on it. */
	size_t max_queue_bytes;
};

#define PPS_READER_OPTS(name, ...)                                                                 \
	struct pps_reader_opts name = {.sz = sizeof(struct pps_reader_opts), __VA_ARGS__}

/**
 * @brief Open a perf.data file ("-" for standard input) and read its header.
 * @return the reader, to be freed with pps_reader_free(); NULL with errno set on error
 * (EINVAL/EPROTO: not a perf.data file or a corrupt header; the log callback says why).
 *
 * A non-seekable input in file mode is spooled to an unlinked temporary file, since the
 * header's sections are at the end of a file-mode recording.
 */
struct pps_reader *pps_reader_open(const char *path, const struct pps_reader_opts *opts);

/**
 * @brief A reader of a pipe-mode perf.data stream that the caller feeds, for live capture
 * (pps_record, lib/record.c): the ring buffers' records go through the same validation,
 * decoding and ordering as a file's.
 * @param name what messages call the stream
 * @return the reader, to be freed with pps_reader_free(); NULL with errno (EINVAL, ENOMEM).
 *
 * pps_reader_next() then returns -EAGAIN, not 0, when it has handed out everything it can
 * before more bytes are fed; 0 only after pps_reader_feed_end(). In ordered mode
 * (PPS_READER_ORDERED) records are held until pps_reader_release() lets them go (or a
 * FINISHED_ROUND record of the stream, or the end).
 */
struct pps_reader *pps_reader_new_fed(const char *name, const struct pps_reader_opts *opts);
/* Appends n bytes of the stream (the 16-byte pipe header first); records may be split
 * across calls. Returns 0, -ENOBUFS (256 MiB fed and not yet read: read first; nothing
 * appended), -EPIPE (not a fed reader, or after pps_reader_feed_end()) or -ENOMEM. */
int pps_reader_feed(struct pps_reader *r, const void *data, size_t n);
/* The stream ends: the rest is delivered, then pps_reader_next() returns 0. */
void pps_reader_feed_end(struct pps_reader *r);
/* Ordered mode: the caller guarantees no record at or before time (the records' own
 * clock) is still to be fed, so every queued record up to it may be delivered. */
void pps_reader_release(struct pps_reader *r, uint64_t time);

/* Frees the reader and everything it handed out; accepts NULL. */
void pps_reader_free(struct pps_reader *r);

/**
 * @brief Read the next record.
 * @return 1 with *ev filled, 0 at the end of the data, -EAGAIN when a fed reader needs
 * more bytes (not an error), other negative errno on a fatal error (an unreadable input:
 * the rest of the file cannot be found). Corrupt records are skipped and counted, not
 * fatal.
 */
int pps_reader_next(struct pps_reader *r, struct pps_event *ev);
/* pps_reader_next() without the copy: *ev points at the reader's own event, valid until
 * the next call (what it points into is the record's, as ever). For a loop over millions
 * of records, where copying each event is a measurable part of the time. */
int pps_reader_next_ref(struct pps_reader *r, const struct pps_event **ev);
/* The record the next pps_reader_next() returns, when it is decoded already (a reader with
 * PPS_READER_THREAD, most of the time), else NULL: a look ahead, for prefetching. Valid
 * until the next pps_reader_next(). */
const struct pps_event *pps_reader_peek(const struct pps_reader *r);
/* The same for the n-th record ahead (n = 1 is pps_reader_peek()'s), when it is decoded
 * already and in the batch being handed out. */
const struct pps_event *pps_reader_peek_at(const struct pps_reader *r, size_t n);
/* All of them at once: the number n of records ahead that are decoded already and in the
 * batch being handed out, with *next at the first; (*next)[k - 1] is peek_at(k)'s for k
 * <= n. 0 (and *next NULL) when there is none. Valid until the next pps_reader_next(). */
size_t pps_reader_ahead(const struct pps_reader *r, const struct pps_event **next);

/* The name the reader was opened with ("-" for stdin). */
const char *pps_reader_path(const struct pps_reader *r);
bool pps_reader_is_pipe(const struct pps_reader *r);
/* A directory recording (perf record --threads): how many data.N files it is read from
 * besides DIR/data; 0 for a plain file or a pipe. */
size_t pps_reader_nr_data_files(const struct pps_reader *r);

/* Header features (HEADER_* bit numbers from perf's header.h). */
enum pps_feature {
	PPS_FEAT_TRACING_DATA = 1,
	PPS_FEAT_BUILD_ID = 2,
	PPS_FEAT_HOSTNAME = 3,
	PPS_FEAT_OSRELEASE = 4,
	PPS_FEAT_VERSION = 5,
	PPS_FEAT_ARCH = 6,
	PPS_FEAT_NRCPUS = 7,
	PPS_FEAT_CPUDESC = 8,
	PPS_FEAT_CPUID = 9,
	PPS_FEAT_TOTAL_MEM = 10,
	PPS_FEAT_CMDLINE = 11,
	PPS_FEAT_EVENT_DESC = 12,
	PPS_FEAT_CPU_TOPOLOGY = 13,
	PPS_FEAT_NUMA_TOPOLOGY = 14,
	PPS_FEAT_BRANCH_STACK = 15,
	PPS_FEAT_PMU_MAPPINGS = 16,
	PPS_FEAT_GROUP_DESC = 17,
	PPS_FEAT_AUXTRACE = 18,
	PPS_FEAT_STAT = 19,
	PPS_FEAT_CACHE = 20,
	PPS_FEAT_SAMPLE_TIME = 21,
	PPS_FEAT_MEM_TOPOLOGY = 22,
	PPS_FEAT_CLOCKID = 23,
	PPS_FEAT_DIR_FORMAT = 24,
	PPS_FEAT_BPF_PROG_INFO = 25,
	PPS_FEAT_BPF_BTF = 26,
	PPS_FEAT_COMPRESSED = 27,
	PPS_FEAT_CPU_PMU_CAPS = 28,
	PPS_FEAT_CLOCK_DATA = 29,
	PPS_FEAT_HYBRID_TOPOLOGY = 30,
	PPS_FEAT_PMU_CAPS = 31,
	PPS_FEAT_MAX = 256,
};

/* perf's name for a feature bit ("HOSTNAME"), NULL for bits perf has not assigned. */
const char *pps_feature_name(int feat);

/* Whether the header (file mode) or a HEADER_FEATURE record seen so far (pipe mode) holds
 * the feature. In pipe mode features arrive as records: query after reading. */
bool pps_reader_has_feature(const struct pps_reader *r, int feat);

/* Header strings; NULL when absent. Owned by the reader. */
const char *pps_reader_hostname(const struct pps_reader *r);
const char *pps_reader_os_release(const struct pps_reader *r);
const char *pps_reader_perf_version(const struct pps_reader *r);
const char *pps_reader_arch(const struct pps_reader *r);
const char *pps_reader_cpu_desc(const struct pps_reader *r);
const char *pps_reader_cpuid(const struct pps_reader *r);
/* The perf command line, its words joined by single spaces. */
const char *pps_reader_cmdline(const struct pps_reader *r);

/* NRCPUS: 0 when absent. */
uint32_t pps_reader_nr_cpus_online(const struct pps_reader *r);
uint32_t pps_reader_nr_cpus_avail(const struct pps_reader *r);
/* TOTAL_MEM in KiB, 0 when absent. */
uint64_t pps_reader_total_mem_kb(const struct pps_reader *r);
/* SAMPLE_TIME: false when absent. */
bool pps_reader_sample_time(const struct pps_reader *r, uint64_t *first, uint64_t *last);

struct pps_clock_data {
	bool has_clockid_res;	 /* CLOCKID feature present */
	uint64_t clockid_res_ns; /* CLOCKID: the clock's resolution in ns */
	bool has_clock_data;	 /* CLOCK_DATA feature present */
	uint32_t clockid;	 /* CLOCK_DATA: the clock perf used for timestamps */
	uint64_t tod_ns;	 /* CLOCK_DATA: wall-clock time ... */
	uint64_t clockid_ns;	 /* ... and the perf clock at the same moment */
};
void pps_reader_clock_data(const struct pps_reader *r, struct pps_clock_data *cd);

/* TRACING_DATA (file mode feature or pipe-mode record): the raw blob for libtraceevent. */
const void *pps_reader_tracing_data(const struct pps_reader *r, size_t *size);

/* BUILD_ID entries from the header or HEADER_BUILD_ID records. */
struct pps_build_id {
	int32_t pid;
	uint16_t cpumode; /* PERF_RECORD_MISC_CPUMODE_MASK bits of the record's misc */
	uint8_t size;	  /* bytes of id that are valid (20 when the file does not say) */
	uint8_t id[20];
	const char *filename;
};
size_t pps_reader_nr_build_ids(const struct pps_reader *r);
const struct pps_build_id *pps_reader_build_id(const struct pps_reader *r, size_t i);

/* GROUP_DESC entries. */
struct pps_group_desc {
	const char *name; /* may be NULL or "{anon_group}" */
	uint32_t leader_idx;
	uint32_t nr_members;
};
size_t pps_reader_nr_groups(const struct pps_reader *r);
const struct pps_group_desc *pps_reader_group(const struct pps_reader *r, size_t i);

/* Events (attrs), in file order. In pipe mode they arrive as HEADER_ATTR records. */
size_t pps_reader_nr_evsels(const struct pps_reader *r);
struct pps_evsel *pps_reader_evsel(const struct pps_reader *r, size_t idx);

/* The attr, normalized to the running headers' struct size (missing tail zeroed). */
const struct perf_event_attr *pps_evsel_attr(const struct pps_evsel *e);
/* The name from EVENT_DESC / EVENT_UPDATE, else derived from the attr as perf does. */
const char *pps_evsel_name(const struct pps_evsel *e);
size_t pps_evsel_idx(const struct pps_evsel *e);
size_t pps_evsel_nr_ids(const struct pps_evsel *e);
uint64_t pps_evsel_id(const struct pps_evsel *e, size_t i);

/* Per-event counts: records attributed to this event through their sample id. */
struct pps_evsel_stats {
	uint64_t nr_samples;
	uint64_t nr_lost_records;	  /* PERF_RECORD_LOST */
	uint64_t lost;			  /* sum of their lost counts */
	uint64_t nr_lost_samples_records; /* PERF_RECORD_LOST_SAMPLES */
	uint64_t lost_samples;		  /* sum of their lost counts */
	uint64_t nr_throttle;
	uint64_t nr_unthrottle;
	uint64_t period;		  /* sum of sample periods */
	uint64_t first_time, last_time;	  /* of its samples, PPS_NO_TIME when none */
};
const struct pps_evsel_stats *pps_evsel_stats(const struct pps_evsel *e);

/* Record type counts cover type numbers below this; higher ones count as unknown. */
#define PPS_NR_RECORD_TYPES 128

struct pps_reader_stats {
	uint64_t nr_records[PPS_NR_RECORD_TYPES]; /* delivered, by type (incl. decompressed) */
	uint64_t nr_unknown_type;	  /* records of types the reader does not know, skipped */
	uint64_t nr_bad_records;	  /* records skipped as corrupt */
	uint64_t nr_unknown_id;		  /* samples whose id matches no event */
	uint64_t nr_unordered;		  /* ordered mode: records older than what was delivered */
	uint64_t lost;			  /* sum of PERF_RECORD_LOST lost counts */
	uint64_t lost_samples;		  /* sum of PERF_RECORD_LOST_SAMPLES lost counts */
	uint64_t first_time, last_time;	  /* of samples, PPS_NO_TIME when none */
	uint64_t bytes_read;		  /* input bytes consumed */
	uint64_t bytes_decompressed;	  /* bytes produced by zstd */
	uint64_t truncated_bytes;	  /* bytes the header promised that the file lacks */
	bool truncated;			  /* the data ended inside a record or section */
};
const struct pps_reader_stats *pps_reader_stats(const struct pps_reader *r);

/* perf's name for a record type ("MMAP2", "FINISHED_ROUND"), NULL when unknown. */
const char *pps_record_type_name(uint32_t type);

#ifdef __cplusplus
}
#endif
#endif /* PPROFSTORE_READER_H */
