/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_profile_read: a pprof file (profile.proto, gzipped or not) back into a pps_profile,
 * so the store can keep profiles that Go's runtime/pprof and net/http/pprof write, and our
 * own.
 *
 * The bytes are untrusted: protobuf-c's generated unpacker checks the wire format, and
 * every index and id it leaves (string indices, mapping, location and function ids, value
 * counts) is checked here before use. Decompression has a hard cap. Go's profiles are a
 * few MB; ids are usually 1..n but need not be, so they are looked up through sorted maps.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <pprofstore/profile.h>

#include "internal/util.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile Profile;

/* The largest decompressed profile read: far above any real one, below harm. */
#define READ_MAX ((size_t)1 << 30)

/* Gunzips data (one or more gzip members) into a malloc'ed buffer. Returns 0, -EPROTO
 * (corrupt, logged), -EFBIG (over READ_MAX) or -ENOMEM. */
static int gunzip(const uint8_t *data, size_t size, uint8_t **out, size_t *out_size)
{
	const size_t chunk = (size_t)1 << 30; /* zlib counts in uInt */
	size_t cap = size < ((size_t)1 << 18) ? (size_t)1 << 20 : size * 4, n = 0, in;
	z_stream z = {0};
	uint8_t *buf;
	int rc, err = 0;

	cap = cap > READ_MAX ? READ_MAX : cap;
	buf = malloc(cap);
	if (!buf || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)data;
	for (;;) {
		if (n == cap) {
			uint8_t *nb;

			if (cap == READ_MAX) {
				err = -EFBIG;
				break;
			}
			cap = cap > READ_MAX / 2 ? READ_MAX : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
		}
		in = size - (size_t)(z.next_in - data);
		z.avail_in = (uInt)(in < chunk ? in : chunk);
		z.next_out = buf + n;
		z.avail_out = (uInt)(cap - n < chunk ? cap - n : chunk);
		rc = inflate(&z, Z_NO_FLUSH);
		n = (size_t)(z.next_out - buf);
		if (rc == Z_OK || (rc == Z_BUF_ERROR && z.avail_out == 0))
			continue;
		if (rc == Z_STREAM_END) {
			/* Another member may follow, as gzip and Go's reader allow. */
			if ((size_t)(z.next_in - data) == size)
				break;
			if (inflateReset(&z) != Z_OK) {
				err = -ENOMEM;
				break;
			}
			continue;
		}
		if (rc == Z_MEM_ERROR) {
			err = -ENOMEM;
			break;
		}
		pps_err("pprof: %s gzip data at byte %zu%s%s",
			rc == Z_BUF_ERROR ? "truncated" : "corrupt", (size_t)(z.next_in - data),
			z.msg ? ": " : "", z.msg ? z.msg : "");
		PPS_CORRUPT;
		err = -EPROTO;
		break;
	}
	inflateEnd(&z);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*out_size = n;
	return 0;
}

/* Proto id -> our id, sorted by proto id for bsearch. */
struct id_pair {
	uint64_t id;
	uint64_t ours;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct id_pair *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Sorts m[0..n); false (logged) when an id is 0 or repeats. */
static bool pairs_sort(struct id_pair *m, size_t n, const char *what)
{
	qsort(m, n, sizeof(*m), cmp_pair);
	for (size_t i = 0; i < n; i++) {
		if (!m[i].id || (i && m[i].id == m[i - 1].id)) {
			if (m[i].id)
				pps_err("pprof: %s id %" PRIu64 " is used twice", what, m[i].id);
			else
				pps_err("pprof: a %s with id 0; ids start at 1", what);
			PPS_CORRUPT;
			return false;
		}
	}
	return true;
}

/* Our id of proto id, 0 when absent. */
static uint64_t pairs_find(const struct id_pair *m, size_t n, uint64_t id)
{
	struct id_pair k = {.id = id};
	const struct id_pair *f = bsearch(&k, m, n, sizeof(*m), cmp_pair);

	return f ? f->ours : 0;
}

/* What a conversion keeps while it runs. */
struct reader_ctx {
	const Profile *pb;
	struct pps_profile *p;
	struct id_pair *maps, *fns, *locs;
};

/* String i of the table into *s; false (logged) when out of range. */
static bool str_at(const Profile *pb, int64_t i, const char *what, const char **s)
{
	if (i < 0 || (uint64_t)i >= pb->n_string_table) {
		pps_err("pprof: %s: string index %" PRId64 " outside the string table (%zu)", what,
			i, pb->n_string_table);
		PPS_CORRUPT;
		return false;
	}
	*s = pb->string_table[i];
	return true;
}

static int read_header(struct reader_ctx *x)
{
	const Profile *pb = x->pb;
	const char *t, *u;
	int err = 0;

	if (!pb->n_string_table || pb->string_table[0][0]) {
		pps_err("pprof: the string table does not start with \"\"");
		PPS_CORRUPT;
		return -EPROTO;
	}
	if (!pb->n_sample_type) {
		pps_err("pprof: no sample types");
		PPS_CORRUPT;
		return -EPROTO;
	}
	for (size_t i = 0; i < pb->n_sample_type && !err; i++) {
		if (!str_at(pb, pb->sample_type[i]->type, "sample type", &t) ||
		    !str_at(pb, pb->sample_type[i]->unit, "sample unit", &u))
			return -EPROTO;
		err = pps_profile_add_sample_type(x->p, t, u);
	}
	if (!err && pb->period_type) {
		if (!str_at(pb, pb->period_type->type, "period type", &t) ||
		    !str_at(pb, pb->period_type->unit, "period unit", &u))
			return -EPROTO;
		if (*t || *u || pb->period)
			err = pps_profile_set_period(x->p, t, u, pb->period);
	}
	if (!err && pb->default_sample_type) {
		if (!str_at(pb, pb->default_sample_type, "default sample type", &t))
			return -EPROTO;
		err = pps_profile_set_default_sample_type(x->p, t);
	}
	for (size_t i = 0; i < pb->n_comment && !err; i++) {
		if (!str_at(pb, pb->comment[i], "comment", &t))
			return -EPROTO;
		err = pps_profile_add_comment(x->p, t);
	}
	pps_profile_set_time(x->p, pb->time_nanos, pb->duration_nanos);
	return err;
}

static int read_mappings(struct reader_ctx *x)
{
	const Profile *pb = x->pb;

	for (size_t i = 0; i < pb->n_mapping; i++) {
		const Perftools__Profiles__Mapping *m = pb->mapping[i];
		struct pps_mapping_info mi = {
		    .start = m->memory_start,
		    .limit = m->memory_limit,
		    .offset = m->file_offset,
		    .has_functions = m->has_functions,
		    .has_filenames = m->has_filenames,
		    .has_line_numbers = m->has_line_numbers,
		    .has_inline_frames = m->has_inline_frames,
		};

		if (!str_at(pb, m->filename, "mapping file", &mi.file) ||
		    !str_at(pb, m->build_id, "mapping build-id", &mi.build_id))
			return -EPROTO;
		x->maps[i].id = m->id;
		x->maps[i].ours = pps_profile_add_mapping(x->p, &mi);
		if (!x->maps[i].ours)
			return -errno;
	}
	return pairs_sort(x->maps, pb->n_mapping, "mapping") ? 0 : -EPROTO;
}

static int read_functions(struct reader_ctx *x)
{
	const Profile *pb = x->pb;

	for (size_t i = 0; i < pb->n_function; i++) {
		const Perftools__Profiles__Function *f = pb->function[i];
		const char *name, *sys, *file;

		if (!str_at(pb, f->name, "function name", &name) ||
		    !str_at(pb, f->system_name, "function system name", &sys) ||
		    !str_at(pb, f->filename, "function file", &file))
			return -EPROTO;
		x->fns[i].id = f->id;
		x->fns[i].ours = pps_profile_add_function(x->p, name, sys, file, f->start_line);
		if (!x->fns[i].ours)
			return -errno;
	}
	return pairs_sort(x->fns, pb->n_function, "function") ? 0 : -EPROTO;
}

static int read_locations(struct reader_ctx *x)
{
	const Profile *pb = x->pb;
	struct pps_line *lines = NULL;
	size_t cap = 0;
	int err = 0;

	for (size_t i = 0; i < pb->n_location && !err; i++) {
		const Perftools__Profiles__Location *l = pb->location[i];
		uint64_t map = 0;

		if (l->mapping_id) {
			map = pairs_find(x->maps, pb->n_mapping, l->mapping_id);
			if (!map) {
				pps_err("pprof: location %" PRIu64 ": no mapping %" PRIu64, l->id,
					l->mapping_id);
				PPS_CORRUPT;
				err = -EPROTO;
				break;
			}
		}
		if (l->n_line > cap) {
			struct pps_line *nl = realloc(lines, l->n_line * sizeof(*nl));

			if (!nl) {
				err = -ENOMEM;
				break;
			}
			lines = nl;
			cap = l->n_line;
		}
		for (size_t k = 0; k < l->n_line; k++) {
			lines[k].function_id =
			    pairs_find(x->fns, pb->n_function, l->line[k]->function_id);
			lines[k].line = l->line[k]->line;
			lines[k].column = l->line[k]->column;
			if (!lines[k].function_id) {
				pps_err("pprof: location %" PRIu64 ": no function %" PRIu64, l->id,
					l->line[k]->function_id);
				PPS_CORRUPT;
				err = -EPROTO;
				break;
			}
		}
		if (err)
			break;
		x->locs[i].id = l->id;
		x->locs[i].ours = pps_profile_add_location(x->p, map, l->address, lines, l->n_line);
		if (!x->locs[i].ours)
			err = -errno;
	}
	free(lines);
	if (!err && !pairs_sort(x->locs, pb->n_location, "location"))
		err = -EPROTO;
	return err;
}

static int read_samples(struct reader_ctx *x)
{
	const Profile *pb = x->pb;
	struct pps_label *labels = NULL;
	uint64_t *locs = NULL;
	size_t locs_cap = 0, labels_cap = 0;
	int err = 0;

	for (size_t i = 0; i < pb->n_sample && !err; i++) {
		const Perftools__Profiles__Sample *s = pb->sample[i];

		if (s->n_value != pb->n_sample_type) {
			pps_err("pprof: sample %zu has %zu values for %zu sample types", i,
				s->n_value, pb->n_sample_type);
			PPS_CORRUPT;
			err = -EPROTO;
			break;
		}
		if (s->n_location_id > locs_cap || s->n_label > labels_cap) {
			size_t nl = s->n_location_id > locs_cap ? s->n_location_id : locs_cap;
			size_t nb = s->n_label > labels_cap ? s->n_label : labels_cap;
			uint64_t *l2 = realloc(locs, (nl ? nl : 1) * sizeof(*l2));
			struct pps_label *b2;

			if (!l2) {
				err = -ENOMEM;
				break;
			}
			locs = l2;
			locs_cap = nl;
			b2 = realloc(labels, (nb ? nb : 1) * sizeof(*b2));
			if (!b2) {
				err = -ENOMEM;
				break;
			}
			labels = b2;
			labels_cap = nb;
		}
		for (size_t k = 0; k < s->n_location_id && !err; k++) {
			locs[k] = pairs_find(x->locs, pb->n_location, s->location_id[k]);
			if (!locs[k]) {
				pps_err("pprof: sample %zu: no location %" PRIu64, i,
					s->location_id[k]);
				PPS_CORRUPT;
				err = -EPROTO;
			}
		}
		for (size_t k = 0; k < s->n_label && !err; k++) {
			const Perftools__Profiles__Label *l = s->label[k];
			struct pps_label *o = &labels[k];
			const char *str, *unit;

			memset(o, 0, sizeof(*o));
			if (!str_at(pb, l->key, "label key", &o->key) ||
			    !str_at(pb, l->str, "label value", &str) ||
			    !str_at(pb, l->num_unit, "label unit", &unit)) {
				err = -EPROTO;
				break;
			}
			if (!*o->key) {
				pps_err("pprof: sample %zu: a label without a key", i);
				PPS_CORRUPT;
				err = -EPROTO;
				break;
			}
			/* pprof's rule: a label is a string when str is set, else a number. */
			o->str = l->str ? str : NULL;
			o->num = l->num;
			o->num_unit = *unit ? unit : NULL;
		}
		if (!err)
			err = pps_profile_add_sample(x->p, locs, s->n_location_id, s->value, labels,
						     s->n_label);
	}
	free(labels);
	free(locs);
	return err;
}

PPS_API struct pps_profile *pps_profile_read(const void *data, size_t size)
{
	const uint8_t *bytes = data;
	struct reader_ctx x = {0};
	uint8_t *plain = NULL;
	size_t plain_size = size;
	Profile *pb = NULL;
	int err = 0;

	if (!data && size) {
		errno = EINVAL;
		return NULL;
	}
	if (size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
		err = gunzip(bytes, size, &plain, &plain_size);
		if (err)
			goto out;
		bytes = plain;
	}
	if (plain_size > READ_MAX) {
		err = -EFBIG;
		goto out;
	}
	pb = perftools__profiles__profile__unpack(NULL, plain_size, bytes);
	if (!pb) {
		pps_err("pprof: not a profile.proto message: protobuf decoding failed");
		PPS_CORRUPT;
		err = -EPROTO;
		goto out;
	}
	x.pb = pb;
	x.p = pps_profile_new();
	x.maps = calloc(pb->n_mapping + 1, sizeof(*x.maps));
	x.fns = calloc(pb->n_function + 1, sizeof(*x.fns));
	x.locs = calloc(pb->n_location + 1, sizeof(*x.locs));
	if (!x.p || !x.maps || !x.fns || !x.locs) {
		err = -ENOMEM;
		goto out;
	}
	err = read_header(&x);
	err = err ?: read_mappings(&x);
	err = err ?: read_functions(&x);
	err = err ?: read_locations(&x);
	err = err ?: read_samples(&x);
out:
	free(x.locs);
	free(x.fns);
	free(x.maps);
	if (pb)
		perftools__profiles__profile__free_unpacked(pb, NULL);
	free(plain);
	if (err) {
		/* -EINVAL from the builder means ids or values it refused: bad input here. */
		pps_profile_free(x.p);
		errno = err == -EINVAL ? EPROTO : -err;
		return NULL;
	}
	return x.p;
}
