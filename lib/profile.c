/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_profile: a pprof profile built in memory and written as gzipped profile.proto.
 *
 * Facts that shaped it:
 * - A conversion adds millions of samples but only thousands to a few hundred thousand
 *   distinct stacks, locations, functions and strings. So every add starts with a hash
 *   lookup, and only distinct items are stored, in flat growable arrays (one malloc per
 *   distinct string, none per other item). Memory is O(distinct items); a repeated stack
 *   costs a lookup and a few additions.
 * - Every dedup index is one open-addressing table of (32-bit hash, item index) slots,
 *   linear probing, at most half full. The items themselves are the keys: a lookup
 *   compares the candidate against the item the slot points to.
 * - Ids handed out are array index + 1, which is what profile.proto wants (0 = none),
 *   so nothing is renumbered at write time.
 * - Writing builds no copy of the profile. Concatenated protobuf encodings of one message
 *   type parse as their merge (repeated fields append), so the Profile is written as a
 *   run of small Profile messages, each holding one element of one repeated field, in
 *   field-number order: the bytes are those a single Profile would pack to. The few
 *   pieces are packed by protobuf-c; samples, locations and functions, nearly all of a
 *   profile, are encoded here, to the same bytes, without building a message for each.
 *   Either way they go straight to a gzip stream deflated on other threads.
 */
#include <stdlib.h>
#include <zlib.h>

#include <pprofstore/profile.h>

#include "internal/gzout.h"
#include "internal/profile.h"
#include "internal/util.h"
#include "profile.pb-c.h"

/* Item counts stay below this, so indices fit the 32-bit slot and a table fits 2^32 slots. */
#define MAX_ITEMS ((size_t)1 << 31)

/* One slot of a dedup table. */
struct dedup_slot {
	uint32_t hash; /* low 32 bits of the item's hash; compared before the item */
	uint32_t ref;  /* item index + 1; 0 marks an empty slot */
};

/* An open-addressing hash index over items stored elsewhere. Invariant: used * 2 <= cap. */
struct dedup {
	struct dedup_slot *slots; /* cap slots, or NULL while cap is 0 */
	size_t cap;		  /* 0 or a power of two */
	size_t used;		  /* occupied slots */
};

/* A ValueType: string indices. */
struct value_type {
	int64_t type;
	int64_t unit;
};

/* A Mapping as stored; strings are string-table indices. Compared field by field. */
struct mapping {
	uint64_t start;
	uint64_t limit;
	uint64_t offset;
	int64_t file;
	int64_t build_id;
	bool has_functions;
	bool has_filenames;
	bool has_line_numbers;
	bool has_inline_frames;
};

/* A Function as stored; strings are string-table indices. */
struct function {
	int64_t name;
	int64_t system_name;
	int64_t filename;
	int64_t start_line;
};

/* A Location as stored; its lines are lines[line_off .. line_off + nr_lines). */
struct location {
	uint64_t mapping_id;
	uint64_t address;
	size_t line_off;
	size_t nr_lines;
};

/*
 * A distinct (stack, labels) pair. Its stack is stack_pool[loc_off .. + nr_locs), its
 * labels label_pool[label_off .. + nr_labels), sorted; its values are
 * value_pool[index * nr_types .. + nr_types).
 */
struct sample {
	size_t loc_off;
	size_t label_off;
	uint32_t nr_locs;
	uint32_t nr_labels;
};

/* intern()'s memo of recently interned pointers; checked with strcmp, never trusted. */
#define PPS_NR_RECENT 16
struct recent_str {
	const char *ptr;
	int64_t idx;
};

struct pps_profile {
	struct recent_str recent[PPS_NR_RECENT];
	char **strs;	      /* the string table; strs[0] is "", the others malloc'ed */
	size_t nr_strs;	      /* always >= 1 */
	size_t strs_cap;      /* allocated entries of strs */
	struct dedup str_idx; /* strs[1..] by content */

	struct value_type *types; /* sample types, in value order */
	size_t nr_types;
	size_t types_cap;
	struct value_type period_type; /* all zero when unset: field left out */
	int64_t period;
	int64_t default_type; /* string index of the default sample type's type, 0 unset */
	int64_t time_nanos;
	int64_t duration_nanos;
	int64_t *comments; /* string indices */
	size_t nr_comments;
	size_t comments_cap;

	struct mapping *mappings; /* mapping id i is mappings[i - 1] */
	size_t nr_mappings;
	size_t mappings_cap;
	struct dedup mapping_idx;

	struct function *functions; /* function id i is functions[i - 1] */
	size_t nr_functions;
	size_t functions_cap;
	struct dedup function_idx;

	struct location *locations; /* location id i is locations[i - 1] */
	size_t nr_locations;
	size_t locations_cap;
	struct dedup location_idx;
	struct pps_line *lines; /* the lines of all locations, back to back */
	size_t nr_lines;
	size_t lines_cap;
	size_t max_lines; /* most lines of one location: sizes the write scratch */

	struct sample *samples;
	size_t nr_samples;
	size_t samples_cap;
	struct dedup sample_idx;
	/* Distinct label sets: samples of one thread share theirs in label_pool. */
	struct labelset {
		size_t off;
		uint32_t n;
	} * labelsets;
	size_t nr_labelsets, labelsets_cap;
	struct dedup labelset_idx;
	uint64_t *stack_pool; /* the stacks of all samples, back to back */
	size_t stack_len;
	size_t stack_cap;
	struct pps_label_ids *label_pool; /* the sorted labels of all samples, back to back */
	size_t label_len;
	size_t label_cap;
	int64_t *value_pool; /* nr_types values per sample */
	size_t values_cap;   /* allocated entries of value_pool */

	struct pps_label_ids *scratch; /* add_sample's labels, interned and sorted before lookup */
	size_t scratch_cap;
};

/* ---- small helpers ----------------------------------------------------------------- */

/*
 * Returns arr with room for need items of size sz, growing *cap by doubling; NULL on
 * ENOMEM, arr then untouched and still owned by the caller.
 */
static void *array_reserve(void *arr, size_t *cap, size_t need, size_t sz)
{
	size_t n = *cap ? *cap : 16;
	void *na;

	/* Never NULL for success, even for nothing: callers treat NULL as ENOMEM. */
	if (!need)
		need = 1;
	if (need <= *cap)
		return arr;
	while (n < need) {
		if (n > SIZE_MAX / 2 / sz)
			return NULL;
		n *= 2;
	}
	if (n > SIZE_MAX / sz)
		return NULL;
	na = realloc(arr, n * sz);
	if (!na)
		return NULL;
	*cap = n;
	return na;
}

/* Folds one word into a running hash: each step is a bijection of h ^ w. */
static uint64_t hash_word(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 32;
	return h;
}

static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
	const uint8_t *s = data;
	uint64_t w;

	h = hash_word(h, len);
	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = hash_word(h, w);
	}
	if (len) {
		w = 0;
		memcpy(&w, s, len);
		h = hash_word(h, w);
	}
	return h;
}

/* ---- dedup tables ------------------------------------------------------------------ */

/* Does item idx (0-based) equal key? */
typedef bool (*dedup_eq_fn)(const struct pps_profile *p, size_t idx, const void *key);

static void dedup_release(struct dedup *d)
{
	free(d->slots);
	memset(d, 0, sizeof(*d));
}

static void dedup_place(struct dedup_slot *slots, size_t cap, uint32_t hash, uint32_t ref)
{
	size_t i = hash & (cap - 1);

	while (slots[i].ref)
		i = (i + 1) & (cap - 1);
	slots[i].hash = hash;
	slots[i].ref = ref;
}

/*
 * Makes room for one more item, so that a dedup_find() that follows returns a usable
 * slot. Returns 0 or -ENOMEM (the table is then unchanged).
 */
static int dedup_reserve(struct dedup *d)
{
	struct dedup_slot *slots;
	size_t cap;

	if ((d->used + 1) * 2 <= d->cap)
		return 0;
	if (d->used + 1 > MAX_ITEMS)
		return -ENOMEM;
	cap = d->cap ? d->cap * 2 : 64;
	slots = pps_calloc_table(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < d->cap; i++)
		if (d->slots[i].ref)
			dedup_place(slots, cap, d->slots[i].hash, d->slots[i].ref);
	free(d->slots);
	d->slots = slots;
	d->cap = cap;
	return 0;
}

/*
 * Returns the index + 1 of the item equal to key, or 0 with *slot set to the empty slot
 * where dedup_insert() puts it. The caller did dedup_reserve() first.
 */
static size_t dedup_find(const struct pps_profile *p, const struct dedup *d, uint32_t hash,
			 dedup_eq_fn eq, const void *key, size_t *slot)
{
	size_t i = hash & (d->cap - 1);

	for (; d->slots[i].ref; i = (i + 1) & (d->cap - 1))
		if (d->slots[i].hash == hash && eq(p, d->slots[i].ref - 1, key))
			return d->slots[i].ref;
	*slot = i;
	return 0;
}

/* Records item idx (0-based) in the slot dedup_find() returned. */
static void dedup_insert(struct dedup *d, size_t slot, uint32_t hash, size_t idx)
{
	d->slots[slot].hash = hash;
	d->slots[slot].ref = (uint32_t)(idx + 1);
	d->used++;
}

/* ---- strings ----------------------------------------------------------------------- */

static bool str_eq(const struct pps_profile *p, size_t idx, const void *key)
{
	return strcmp(p->strs[idx], key) == 0;
}

/*
 * Returns the string-table index of s, adding a copy on first use; NULL and "" are 0.
 * Returns -ENOMEM when it cannot add (the table is then unchanged).
 */
static int64_t intern(struct pps_profile *p, const char *s)
{
	size_t len, slot, ref;
	uint32_t hash;
	char **strs, *copy;

	struct recent_str *rc;

	if (!s || !*s)
		return 0;
	/* Callers pass the same few strings (label keys, thread names) for every sample. */
	rc = &p->recent[((uintptr_t)s >> 3) & (PPS_NR_RECENT - 1)];
	if (rc->ptr == s && !strcmp(p->strs[rc->idx], s))
		return rc->idx;
	len = strlen(s);
	hash = (uint32_t)pps_mix64(hash_bytes(0, s, len));
	if (dedup_reserve(&p->str_idx))
		return -ENOMEM;
	ref = dedup_find(p, &p->str_idx, hash, str_eq, s, &slot);
	if (ref) {
		rc->ptr = s;
		rc->idx = (int64_t)(ref - 1);
		return rc->idx;
	}
	strs = array_reserve(p->strs, &p->strs_cap, p->nr_strs + 1, sizeof(*strs));
	if (!strs)
		return -ENOMEM;
	p->strs = strs;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, s, len + 1);
	p->strs[p->nr_strs] = copy;
	dedup_insert(&p->str_idx, slot, hash, p->nr_strs);
	rc->ptr = s;
	rc->idx = (int64_t)p->nr_strs;
	return (int64_t)p->nr_strs++;
}

/* ---- lifecycle and profile-wide fields -------------------------------------------- */

/* strs[0] of every profile: "", never freed (the table's type is char **, protobuf-c's). */
static char empty_string[1];

PPS_API struct pps_profile *pps_profile_new(void)
{
	struct pps_profile *p = calloc(1, sizeof(*p));

	if (!p)
		goto out_nomem;
	p->strs = array_reserve(NULL, &p->strs_cap, 1, sizeof(*p->strs));
	if (!p->strs)
		goto out_free;
	p->strs[0] = empty_string;
	p->nr_strs = 1;
	return p;

out_free:
	free(p);
out_nomem:
	errno = ENOMEM;
	return NULL;
}

PPS_API void pps_profile_free(struct pps_profile *p)
{
	if (!p)
		return;
	for (size_t i = 1; i < p->nr_strs; i++)
		free(p->strs[i]);
	free(p->strs);
	dedup_release(&p->str_idx);
	free(p->types);
	free(p->comments);
	free(p->mappings);
	dedup_release(&p->mapping_idx);
	free(p->functions);
	dedup_release(&p->function_idx);
	free(p->locations);
	free(p->lines);
	dedup_release(&p->location_idx);
	free(p->samples);
	dedup_release(&p->sample_idx);
	dedup_release(&p->labelset_idx);
	free(p->labelsets);
	free(p->stack_pool);
	free(p->label_pool);
	free(p->value_pool);
	free(p->scratch);
	free(p);
}

PPS_API int pps_profile_add_sample_type(struct pps_profile *p, const char *type, const char *unit)
{
	struct value_type *types, vt;

	if (!p || !type)
		return -EINVAL;
	/* Stored samples have exactly nr_types values each. */
	if (p->nr_samples)
		return -EINVAL;
	vt.type = intern(p, type);
	vt.unit = intern(p, unit);
	if (vt.type < 0 || vt.unit < 0)
		return -ENOMEM;
	types = array_reserve(p->types, &p->types_cap, p->nr_types + 1, sizeof(*types));
	if (!types)
		return -ENOMEM;
	p->types = types;
	p->types[p->nr_types++] = vt;
	return 0;
}

PPS_API int pps_profile_set_period(struct pps_profile *p, const char *type, const char *unit,
				   int64_t period)
{
	struct value_type vt;

	if (!p || !type)
		return -EINVAL;
	vt.type = intern(p, type);
	vt.unit = intern(p, unit);
	if (vt.type < 0 || vt.unit < 0)
		return -ENOMEM;
	p->period_type = vt;
	p->period = period;
	return 0;
}

PPS_API int pps_profile_set_default_sample_type(struct pps_profile *p, const char *type)
{
	int64_t idx;

	if (!p || !type)
		return -EINVAL;
	idx = intern(p, type);
	if (idx < 0)
		return -ENOMEM;
	p->default_type = idx;
	return 0;
}

PPS_API void pps_profile_set_time(struct pps_profile *p, int64_t time_nanos, int64_t duration_nanos)
{
	if (!p)
		return;
	p->time_nanos = time_nanos;
	p->duration_nanos = duration_nanos;
}

PPS_API int pps_profile_add_comment(struct pps_profile *p, const char *comment)
{
	int64_t *comments, idx;

	if (!p || !comment)
		return -EINVAL;
	idx = intern(p, comment);
	if (idx < 0)
		return -ENOMEM;
	comments =
	    array_reserve(p->comments, &p->comments_cap, p->nr_comments + 1, sizeof(*comments));
	if (!comments)
		return -ENOMEM;
	p->comments = comments;
	p->comments[p->nr_comments++] = idx;
	return 0;
}

/* ---- mappings, functions, locations ------------------------------------------------ */

static bool mapping_eq(const struct pps_profile *p, size_t idx, const void *key)
{
	const struct mapping *a = &p->mappings[idx], *b = key;

	/* Two builds of one file loaded at the same place are two mappings (pprof's
	 * mappingKey prefers the build-id): merging them would give one build's addresses
	 * the other's lines. A missing build-id matches any. */
	return a->start == b->start && a->limit == b->limit && a->offset == b->offset &&
	       a->file == b->file && (a->build_id == b->build_id || !a->build_id || !b->build_id);
}

PPS_API uint64_t pps_profile_add_mapping(struct pps_profile *p, const struct pps_mapping_info *m)
{
	struct mapping key, *mappings;
	size_t slot, ref;
	uint32_t hash;
	uint64_t h;
	int err = -EINVAL;

	if (!p || !m)
		goto out_err;
	err = -ENOMEM;
	key.start = m->start;
	key.limit = m->limit;
	key.offset = m->offset;
	key.file = intern(p, m->file);
	key.build_id = intern(p, m->build_id);
	if (key.file < 0 || key.build_id < 0)
		goto out_err;
	key.has_functions = m->has_functions;
	key.has_filenames = m->has_filenames;
	key.has_line_numbers = m->has_line_numbers;
	key.has_inline_frames = m->has_inline_frames;

	h = hash_word(0, key.start);
	h = hash_word(h, key.limit);
	h = hash_word(h, key.offset);
	h = hash_word(h, (uint64_t)key.file);
	hash = (uint32_t)pps_mix64(h);
	if (dedup_reserve(&p->mapping_idx))
		goto out_err;
	ref = dedup_find(p, &p->mapping_idx, hash, mapping_eq, &key, &slot);
	if (ref) {
		struct mapping *old = &p->mappings[ref - 1];

		old->has_functions |= key.has_functions;
		old->has_filenames |= key.has_filenames;
		old->has_line_numbers |= key.has_line_numbers;
		old->has_inline_frames |= key.has_inline_frames;
		if (!old->build_id)
			old->build_id = key.build_id;
		return ref;
	}
	mappings =
	    array_reserve(p->mappings, &p->mappings_cap, p->nr_mappings + 1, sizeof(*mappings));
	if (!mappings)
		goto out_err;
	p->mappings = mappings;
	p->mappings[p->nr_mappings] = key;
	dedup_insert(&p->mapping_idx, slot, hash, p->nr_mappings);
	return ++p->nr_mappings;

out_err:
	errno = -err;
	return 0;
}

PPS_API int pps_profile_update_mapping(struct pps_profile *p, uint64_t mapping_id,
				       const char *build_id, bool has_functions, bool has_filenames,
				       bool has_line_numbers, bool has_inline_frames)
{
	struct mapping *m;
	int64_t bid = 0;

	if (!p || !mapping_id || mapping_id > p->nr_mappings)
		return -EINVAL;
	m = &p->mappings[mapping_id - 1];
	if (build_id && *build_id) {
		bid = intern(p, build_id);
		if (bid < 0)
			return -ENOMEM;
		m->build_id = bid;
	}
	m->has_functions = has_functions;
	m->has_filenames = has_filenames;
	m->has_line_numbers = has_line_numbers;
	m->has_inline_frames = has_inline_frames;
	return 0;
}

static bool function_eq(const struct pps_profile *p, size_t idx, const void *key)
{
	const struct function *a = &p->functions[idx], *b = key;

	return a->name == b->name && a->system_name == b->system_name &&
	       a->filename == b->filename && a->start_line == b->start_line;
}

PPS_API uint64_t pps_profile_add_function(struct pps_profile *p, const char *name,
					  const char *system_name, const char *filename,
					  int64_t start_line)
{
	struct function key, *functions;
	size_t slot, ref;
	uint32_t hash;
	uint64_t h;
	int err = -EINVAL;

	if (!p)
		goto out_err;
	err = -ENOMEM;
	key.name = intern(p, name);
	key.system_name = intern(p, system_name);
	key.filename = intern(p, filename);
	key.start_line = start_line;
	if (key.name < 0 || key.system_name < 0 || key.filename < 0)
		goto out_err;

	h = hash_word(0, (uint64_t)key.name);
	h = hash_word(h, (uint64_t)key.system_name);
	h = hash_word(h, (uint64_t)key.filename);
	h = hash_word(h, (uint64_t)key.start_line);
	hash = (uint32_t)pps_mix64(h);
	if (dedup_reserve(&p->function_idx))
		goto out_err;
	ref = dedup_find(p, &p->function_idx, hash, function_eq, &key, &slot);
	if (ref)
		return ref;
	functions =
	    array_reserve(p->functions, &p->functions_cap, p->nr_functions + 1, sizeof(*functions));
	if (!functions)
		goto out_err;
	p->functions = functions;
	p->functions[p->nr_functions] = key;
	dedup_insert(&p->function_idx, slot, hash, p->nr_functions);
	return ++p->nr_functions;

out_err:
	errno = -err;
	return 0;
}

/* What a location is looked up by; see location_eq(). */
struct location_key {
	uint64_t mapping_id;
	uint64_t address;
	const struct pps_line *lines;
	size_t nr_lines;
};

/*
 * With an address, a location is its (mapping, address): the lines of a later add are
 * ignored, the pc means the same code. Without one, it is its (mapping, lines), as in
 * pprof's own locationKey (merge.go), so a symbolic frame never changes mapping.
 */
static bool location_eq(const struct pps_profile *p, size_t idx, const void *key)
{
	const struct location *a = &p->locations[idx];
	const struct location_key *b = key;
	const struct pps_line *al;

	if (a->mapping_id != b->mapping_id || a->address != b->address)
		return false;
	if (b->address)
		return true;
	if (a->nr_lines != b->nr_lines)
		return false;
	al = &p->lines[a->line_off];
	for (size_t i = 0; i < b->nr_lines; i++)
		if (al[i].function_id != b->lines[i].function_id ||
		    al[i].line != b->lines[i].line || al[i].column != b->lines[i].column)
			return false;
	return true;
}

PPS_API uint64_t pps_profile_add_location(struct pps_profile *p, uint64_t mapping_id,
					  uint64_t address, const struct pps_line *lines,
					  size_t nr_lines)
{
	struct location_key key = {mapping_id, address, lines, nr_lines};
	struct location *locations, *loc;
	struct pps_line *all_lines;
	size_t slot, ref;
	uint32_t hash;
	uint64_t h;
	int err = -EINVAL;

	if (!p || mapping_id > p->nr_mappings || (nr_lines && !lines))
		goto out_err;
	for (size_t i = 0; i < nr_lines; i++)
		if (!lines[i].function_id || lines[i].function_id > p->nr_functions)
			goto out_err;
	err = -ENOMEM;
	if (nr_lines > MAX_ITEMS)
		goto out_err;

	h = hash_word(0, mapping_id);
	h = hash_word(h, address);
	if (!address) {
		h = hash_word(h, nr_lines);
		for (size_t i = 0; i < nr_lines; i++) {
			h = hash_word(h, lines[i].function_id);
			h = hash_word(h, (uint64_t)lines[i].line);
			h = hash_word(h, (uint64_t)lines[i].column);
		}
	}
	hash = (uint32_t)pps_mix64(h);
	if (dedup_reserve(&p->location_idx))
		goto out_err;
	ref = dedup_find(p, &p->location_idx, hash, location_eq, &key, &slot);
	if (ref)
		return ref;
	locations =
	    array_reserve(p->locations, &p->locations_cap, p->nr_locations + 1, sizeof(*locations));
	if (!locations)
		goto out_err;
	p->locations = locations;
	if (nr_lines) {
		all_lines = array_reserve(p->lines, &p->lines_cap, p->nr_lines + nr_lines,
					  sizeof(*all_lines));
		if (!all_lines)
			goto out_err;
		p->lines = all_lines;
	}

	loc = &p->locations[p->nr_locations];
	loc->mapping_id = mapping_id;
	loc->address = address;
	loc->line_off = p->nr_lines;
	loc->nr_lines = nr_lines;
	if (nr_lines)
		memcpy(&p->lines[p->nr_lines], lines, nr_lines * sizeof(*lines));
	p->nr_lines += nr_lines;
	if (nr_lines > p->max_lines)
		p->max_lines = nr_lines;
	dedup_insert(&p->location_idx, slot, hash, p->nr_locations);
	return ++p->nr_locations;

out_err:
	errno = -err;
	return 0;
}

PPS_API int pps_profile_set_location_lines(struct pps_profile *p, uint64_t location_id,
					   const struct pps_line *lines, size_t nr_lines)
{
	struct pps_line *all_lines;
	struct location *loc;

	if (!p || !location_id || location_id > p->nr_locations || (nr_lines && !lines))
		return -EINVAL;
	loc = &p->locations[location_id - 1];
	/* Locations without an address are keyed by their lines: those cannot change. */
	if (loc->nr_lines || !loc->address)
		return -EINVAL;
	for (size_t i = 0; i < nr_lines; i++)
		if (!lines[i].function_id || lines[i].function_id > p->nr_functions)
			return -EINVAL;
	if (!nr_lines)
		return 0;
	if (nr_lines > MAX_ITEMS)
		return -ENOMEM;
	all_lines =
	    array_reserve(p->lines, &p->lines_cap, p->nr_lines + nr_lines, sizeof(*all_lines));
	if (!all_lines)
		return -ENOMEM;
	p->lines = all_lines;
	memcpy(&p->lines[p->nr_lines], lines, nr_lines * sizeof(*lines));
	loc->line_off = p->nr_lines;
	loc->nr_lines = nr_lines;
	p->nr_lines += nr_lines;
	if (nr_lines > p->max_lines)
		p->max_lines = nr_lines;
	return 0;
}

/* ---- samples ----------------------------------------------------------------------- */

/* What a sample is looked up by: its stack and its sorted, interned labels. */
struct sample_key {
	const uint64_t *locs;
	size_t nr_locs;
	const struct pps_label_ids *labels;
	size_t nr_labels;
};

static bool sample_eq(const struct pps_profile *p, size_t idx, const void *key)
{
	const struct sample *a = &p->samples[idx];
	const struct sample_key *b = key;

	return a->nr_locs == b->nr_locs && a->nr_labels == b->nr_labels &&
	       (!b->nr_locs ||
		!memcmp(&p->stack_pool[a->loc_off], b->locs, b->nr_locs * sizeof(*b->locs))) &&
	       (!b->nr_labels || !memcmp(&p->label_pool[a->label_off], b->labels,
					 b->nr_labels * sizeof(*b->labels)));
}

static int cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

/* Any total order works: it only makes the label set canonical within one profile. */
static int label_cmp(const void *va, const void *vb)
{
	const struct pps_label_ids *a = va, *b = vb;
	int c = cmp_i64(a->key, b->key);

	if (!c)
		c = cmp_i64(a->str, b->str);
	if (!c)
		c = cmp_i64(a->num, b->num);
	if (!c)
		c = cmp_i64(a->unit, b->unit);
	return c;
}

/* Interns labels into scratch (room for nr_labels) and sorts them. Returns 0 or -ENOMEM. */
static int canonical_labels(struct pps_profile *p, const struct pps_label *labels, size_t nr_labels,
			    struct pps_label_ids *scratch)
{
	for (size_t i = 0; i < nr_labels; i++) {
		struct pps_label_ids *l = &scratch[i];

		l->key = intern(p, labels[i].key);
		if (labels[i].str) {
			l->str = intern(p, labels[i].str);
			l->num = 0;
			l->unit = 0;
		} else {
			l->str = 0;
			l->num = labels[i].num;
			l->unit = intern(p, labels[i].num_unit);
		}
		if (l->key < 0 || l->str < 0 || l->unit < 0)
			return -ENOMEM;
	}
	if (nr_labels > 8) {
		qsort(scratch, nr_labels, sizeof(*scratch), label_cmp);
	} else {
		/* A sample has a handful of labels: insertion sort beats qsort's setup. */
		for (size_t i = 1; i < nr_labels; i++) {
			struct pps_label_ids l = scratch[i];
			size_t j = i;

			for (; j > 0 && label_cmp(&scratch[j - 1], &l) > 0; j--)
				scratch[j] = scratch[j - 1];
			scratch[j] = l;
		}
	}
	return 0;
}

/*
 * Appends a new sample; the caller has found no equal one, and the table slot is
 * reserved. Returns 0 or -ENOMEM with nothing appended.
 */
struct labelset_key {
	const struct pps_label_ids *labels;
	size_t n;
};

static bool labelset_eq(const struct pps_profile *p, size_t idx, const void *key)
{
	const struct labelset *a = &p->labelsets[idx];
	const struct labelset_key *b = key;

	return a->n == b->n &&
	       !memcmp(&p->label_pool[a->off], b->labels, b->n * sizeof(*b->labels));
}

/* The label_pool offset of this (sorted) label set, stored once. -ENOMEM on failure. */
static int labelset_off(struct pps_profile *p, const struct pps_label_ids *labels, size_t n,
			size_t *off)
{
	struct labelset_key key = {labels, n};
	struct labelset *sets;
	struct pps_label_ids *lp;
	size_t slot, ref;
	uint64_t h = hash_word(0, n);
	uint32_t hash;

	for (size_t i = 0; i < n; i++) {
		h = hash_word(h, (uint64_t)labels[i].key);
		h = hash_word(h, (uint64_t)labels[i].str);
		h = hash_word(h, (uint64_t)labels[i].num);
		h = hash_word(h, (uint64_t)labels[i].unit);
	}
	hash = (uint32_t)pps_mix64(h);
	if (dedup_reserve(&p->labelset_idx))
		return -ENOMEM;
	ref = dedup_find(p, &p->labelset_idx, hash, labelset_eq, &key, &slot);
	if (ref) {
		*off = p->labelsets[ref - 1].off;
		return 0;
	}
	sets = array_reserve(p->labelsets, &p->labelsets_cap, p->nr_labelsets + 1, sizeof(*sets));
	if (!sets)
		return -ENOMEM;
	p->labelsets = sets;
	lp = array_reserve(p->label_pool, &p->label_cap, p->label_len + n, sizeof(*lp));
	if (!lp)
		return -ENOMEM;
	p->label_pool = lp;
	memcpy(&p->label_pool[p->label_len], labels, n * sizeof(*labels));
	sets[p->nr_labelsets].off = p->label_len;
	sets[p->nr_labelsets].n = (uint32_t)n;
	*off = p->label_len;
	p->label_len += n;
	dedup_insert(&p->labelset_idx, slot, hash, p->nr_labelsets++);
	return 0;
}

static int sample_append(struct pps_profile *p, const struct sample_key *key, const int64_t *values)
{
	size_t label_off = 0;
	struct sample *samples, *s;
	uint64_t *stack;
	int64_t *vp;

	samples = array_reserve(p->samples, &p->samples_cap, p->nr_samples + 1, sizeof(*samples));
	if (!samples)
		return -ENOMEM;
	p->samples = samples;
	stack = array_reserve(p->stack_pool, &p->stack_cap, p->stack_len + key->nr_locs,
			      sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	p->stack_pool = stack;
	if (key->nr_labels && labelset_off(p, key->labels, key->nr_labels, &label_off))
		return -ENOMEM;
	/* Cannot overflow: nr_samples * nr_types values and nr_types 16-byte types are
	 * allocated already. */
	vp = array_reserve(p->value_pool, &p->values_cap, (p->nr_samples + 1) * p->nr_types,
			   sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	p->value_pool = vp;

	s = &p->samples[p->nr_samples];
	s->loc_off = p->stack_len;
	s->nr_locs = (uint32_t)key->nr_locs;
	s->label_off = label_off;
	s->nr_labels = (uint32_t)key->nr_labels;
	if (key->nr_locs)
		memcpy(&p->stack_pool[p->stack_len], key->locs, key->nr_locs * sizeof(*key->locs));
	p->stack_len += key->nr_locs;
	memcpy(&p->value_pool[p->nr_samples * p->nr_types], values, p->nr_types * sizeof(*values));
	return 0;
}

/*
 * Sums wrap around on overflow (two's complement), as Go's int64 addition in pprof's own
 * merge does, rather than being undefined.
 */
PPS_API int pps_profile_add_sample(struct pps_profile *p, const uint64_t *location_ids,
				   size_t nr_locs, const int64_t *values,
				   const struct pps_label *labels, size_t nr_labels)
{
	size_t ref;

	return pps_profile_add_sample_ref(p, location_ids, nr_locs, values, labels, nr_labels,
					  &ref);
}

PPS_API int pps_profile_add_values(struct pps_profile *p, size_t ref, const int64_t *values)
{
	int64_t *v;

	if (!p || !values || !ref || ref > p->nr_samples)
		return -EINVAL;
	v = &p->value_pool[(ref - 1) * p->nr_types];
	for (size_t i = 0; i < p->nr_types; i++)
		v[i] = (int64_t)((uint64_t)v[i] + (uint64_t)values[i]);
	return 0;
}

void pps_profile_prefetch_values(const struct pps_profile *p, size_t ref)
{
	if (ref && ref <= p->nr_samples)
		__builtin_prefetch(&p->value_pool[(ref - 1) * p->nr_types], 1);
}

PPS_API int pps_profile_get_sample(const struct pps_profile *p, size_t i,
				   const uint64_t **location_ids, size_t *nr_locs,
				   const int64_t **values)
{
	if (!p || i >= p->nr_samples)
		return -EINVAL;
	*location_ids = &p->stack_pool[p->samples[i].loc_off];
	*nr_locs = p->samples[i].nr_locs;
	*values = &p->value_pool[i * p->nr_types];
	return 0;
}

static uint32_t sample_hash(const struct sample_key *k)
{
	uint64_t h = hash_word(0, k->nr_locs);

	for (size_t i = 0; i < k->nr_locs; i++)
		h = hash_word(h, k->locs[i]);
	h = hash_word(h, k->nr_labels);
	for (size_t i = 0; i < k->nr_labels; i++) {
		h = hash_word(h, (uint64_t)k->labels[i].key);
		h = hash_word(h, (uint64_t)k->labels[i].str);
		h = hash_word(h, (uint64_t)k->labels[i].num);
		h = hash_word(h, (uint64_t)k->labels[i].unit);
	}
	return (uint32_t)pps_mix64(h);
}

/* pps_profile_add_sample_ref()'s argument checks: 0, -EINVAL or -ENOMEM. */
static int sample_check(const struct pps_profile *p, const uint64_t *location_ids, size_t nr_locs,
			const struct pps_label *labels, size_t nr_labels)
{
	if (!p || !p->nr_types || (nr_locs && !location_ids) || (nr_labels && !labels))
		return -EINVAL;
	for (size_t i = 0; i < nr_locs; i++)
		if (!location_ids[i] || location_ids[i] > p->nr_locations)
			return -EINVAL;
	for (size_t i = 0; i < nr_labels; i++)
		if (!labels[i].key)
			return -EINVAL;
	if (nr_locs > UINT32_MAX || nr_labels > UINT32_MAX)
		return -ENOMEM;
	return 0;
}

/* Adds values to the sample of key (its hash: hash), appending it when it is new. */
static int sample_add(struct pps_profile *p, const struct sample_key *key, uint32_t hash,
		      const int64_t *values, size_t *ref_out)
{
	size_t slot, ref;
	int err;

	if (dedup_reserve(&p->sample_idx))
		return -ENOMEM;
	ref = dedup_find(p, &p->sample_idx, hash, sample_eq, key, &slot);
	if (ref) {
		*ref_out = ref;
		return pps_profile_add_values(p, ref, values);
	}
	err = sample_append(p, key, values);
	if (err)
		return err;
	dedup_insert(&p->sample_idx, slot, hash, p->nr_samples++);
	*ref_out = p->nr_samples;
	return 0;
}

PPS_API int pps_profile_add_sample_ref(struct pps_profile *p, const uint64_t *location_ids,
				       size_t nr_locs, const int64_t *values,
				       const struct pps_label *labels, size_t nr_labels,
				       size_t *ref_out)
{
	struct sample_key key;
	struct pps_label_ids *scratch;
	int err;

	err = values ? sample_check(p, location_ids, nr_locs, labels, nr_labels) : -EINVAL;
	if (err)
		return err;
	scratch = array_reserve(p->scratch, &p->scratch_cap, nr_labels, sizeof(*scratch));
	if (!scratch)
		return -ENOMEM;
	p->scratch = scratch;
	err = canonical_labels(p, labels, nr_labels, scratch);
	if (err)
		return err;
	key = (struct sample_key){location_ids, nr_locs, scratch, nr_labels};
	return sample_add(p, &key, sample_hash(&key), values, ref_out);
}

/* The rest of a prep once sp->labels holds its nr_labels labels: the key, its hash, and
 * the look-up's table slot asked for. */
static void prep_key(const struct pps_profile *p, const uint64_t *location_ids, size_t nr_locs,
		     size_t nr_labels, struct pps_sample_prep *sp)
{
	struct sample_key key;

	sp->locs = location_ids;
	sp->nr_locs = nr_locs;
	sp->nr_labels = nr_labels;
	key = (struct sample_key){location_ids, nr_locs, sp->labels, nr_labels};
	sp->hash = sample_hash(&key);
	if (p->sample_idx.cap)
		__builtin_prefetch(&p->sample_idx.slots[sp->hash & (p->sample_idx.cap - 1)]);
}

int pps_profile_prep(struct pps_profile *p, const uint64_t *location_ids, size_t nr_locs,
		     const struct pps_label *labels, size_t nr_labels, struct pps_sample_prep *sp)
{
	int err;

	err = sample_check(p, location_ids, nr_locs, labels, nr_labels);
	if (err)
		return err;
	if (!sp || nr_labels > PPS_PREP_LABELS)
		return -EINVAL;
	err = canonical_labels(p, labels, nr_labels, sp->labels);
	if (err)
		return err;
	prep_key(p, location_ids, nr_locs, nr_labels, sp);
	return 0;
}

int pps_profile_prep_ids(struct pps_profile *p, const uint64_t *location_ids, size_t nr_locs,
			 const struct pps_label_ids *ids, size_t nr_ids, struct pps_sample_prep *sp)
{
	int err;

	err = sample_check(p, location_ids, nr_locs, NULL, 0);
	if (err)
		return err;
	if (!sp || nr_ids > PPS_PREP_LABELS || (nr_ids && !ids))
		return -EINVAL;
	for (size_t i = 0; i < nr_ids; i++)
		if (ids[i].key <= 0 || (size_t)ids[i].key >= p->nr_strs || ids[i].str < 0 ||
		    (size_t)ids[i].str >= p->nr_strs || ids[i].unit < 0 ||
		    (size_t)ids[i].unit >= p->nr_strs || (i && label_cmp(&ids[i - 1], &ids[i]) > 0))
			return -EINVAL;
	if (nr_ids)
		memcpy(sp->labels, ids, nr_ids * sizeof(*ids));
	prep_key(p, location_ids, nr_locs, nr_ids, sp);
	return 0;
}

int pps_profile_prep_add(struct pps_profile *p, const struct pps_sample_prep *sp,
			 const int64_t *values, size_t *ref_out)
{
	struct sample_key key;

	if (!p || !sp || !values || !ref_out)
		return -EINVAL;
	key = (struct sample_key){sp->locs, sp->nr_locs, sp->labels, sp->nr_labels};
	return sample_add(p, &key, sp->hash, values, ref_out);
}

PPS_API size_t pps_profile_nr_samples(const struct pps_profile *p)
{
	return p ? p->nr_samples : 0;
}

PPS_API size_t pps_profile_nr_locations(const struct pps_profile *p)
{
	return p ? p->nr_locations : 0;
}

PPS_API size_t pps_profile_nr_functions(const struct pps_profile *p)
{
	return p ? p->nr_functions : 0;
}

PPS_API size_t pps_profile_nr_mappings(const struct pps_profile *p)
{
	return p ? p->nr_mappings : 0;
}

/* ---- reading back (for the store) ------------------------------------------------- */

static const char *str_at(const struct pps_profile *p, int64_t idx)
{
	return idx > 0 && (size_t)idx < p->nr_strs ? p->strs[idx] : "";
}

PPS_API int pps_profile_get_sample_labels(const struct pps_profile *p, size_t i, size_t j,
					  size_t *nr, struct pps_label *out)
{
	const struct pps_label_ids *l;

	if (!p || i >= p->nr_samples)
		return -EINVAL;
	if (nr)
		*nr = p->samples[i].nr_labels;
	if (!out)
		return 0;
	if (j >= p->samples[i].nr_labels)
		return -EINVAL;
	l = &p->label_pool[p->samples[i].label_off + j];
	out->key = str_at(p, l->key);
	out->str = l->str ? str_at(p, l->str) : NULL;
	out->num = l->num;
	out->num_unit = l->unit ? str_at(p, l->unit) : NULL;
	return 0;
}

PPS_API size_t pps_profile_nr_sample_types(const struct pps_profile *p)
{
	return p ? p->nr_types : 0;
}

PPS_API int pps_profile_get_sample_type(const struct pps_profile *p, size_t i, const char **type,
					const char **unit)
{
	if (!p || i >= p->nr_types)
		return -EINVAL;
	*type = str_at(p, p->types[i].type);
	*unit = str_at(p, p->types[i].unit);
	return 0;
}

PPS_API void pps_profile_get_period(const struct pps_profile *p, const char **type,
				    const char **unit, int64_t *period,
				    const char **default_sample_type)
{
	*type = str_at(p, p->period_type.type);
	*unit = str_at(p, p->period_type.unit);
	*period = p->period;
	*default_sample_type = str_at(p, p->default_type);
}

PPS_API void pps_profile_get_time(const struct pps_profile *p, int64_t *time_nanos,
				  int64_t *duration_nanos)
{
	*time_nanos = p->time_nanos;
	*duration_nanos = p->duration_nanos;
}

PPS_API size_t pps_profile_nr_comments(const struct pps_profile *p)
{
	return p ? p->nr_comments : 0;
}

PPS_API const char *pps_profile_get_comment(const struct pps_profile *p, size_t i)
{
	return p && i < p->nr_comments ? str_at(p, p->comments[i]) : NULL;
}

PPS_API int pps_profile_get_mapping(const struct pps_profile *p, uint64_t id,
				    struct pps_mapping_info *out)
{
	const struct mapping *m;

	if (!p || id == 0 || id > p->nr_mappings)
		return -EINVAL;
	m = &p->mappings[id - 1];
	out->start = m->start;
	out->limit = m->limit;
	out->offset = m->offset;
	out->file = str_at(p, m->file);
	out->build_id = str_at(p, m->build_id);
	out->has_functions = m->has_functions;
	out->has_filenames = m->has_filenames;
	out->has_line_numbers = m->has_line_numbers;
	out->has_inline_frames = m->has_inline_frames;
	return 0;
}

PPS_API int pps_profile_get_function(const struct pps_profile *p, uint64_t id, const char **name,
				     const char **system_name, const char **filename,
				     int64_t *start_line)
{
	const struct function *f;

	if (!p || id == 0 || id > p->nr_functions)
		return -EINVAL;
	f = &p->functions[id - 1];
	*name = str_at(p, f->name);
	*system_name = str_at(p, f->system_name);
	*filename = str_at(p, f->filename);
	*start_line = f->start_line;
	return 0;
}

PPS_API int pps_profile_get_location(const struct pps_profile *p, uint64_t id, uint64_t *mapping_id,
				     uint64_t *address, const struct pps_line **lines,
				     size_t *nr_lines)
{
	const struct location *l;

	if (!p || id == 0 || id > p->nr_locations)
		return -EINVAL;
	l = &p->locations[id - 1];
	*mapping_id = l->mapping_id;
	*address = l->address;
	*lines = l->nr_lines ? &p->lines[l->line_off] : NULL;
	*nr_lines = l->nr_lines;
	return 0;
}

/* ---- writing ----------------------------------------------------------------------- */

/*
 * Where the pieces go: a ProtobufCBuffer (so protobuf-c packs straight into it) over a
 * gzip stream deflated on other threads (internal/gzout.h). append returns void, so
 * errors are sticky there, and the writers below stop early once they see one.
 */
struct gz_writer {
	ProtobufCBuffer base; /* first member: protobuf-c passes &base to append */
	struct pps_gzout *gz;
	int err; /* the encoder's own (ENOMEM) */
};

static bool gz_failed(const struct gz_writer *w)
{
	return w->err || pps_gzout_error(w->gz);
}

static void gz_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data)
{
	struct gz_writer *w = (struct gz_writer *)buf;

	pps_gzout_write(w->gz, data, len);
}

/* Packs one piece of the Profile (see the file comment) into w. */
static void put_piece(struct gz_writer *w, const Perftools__Profiles__Profile *piece)
{
	if (!gz_failed(w))
		protobuf_c_message_pack_to_buffer(&piece->base, &w->base);
}

static void put_sample_types(struct gz_writer *w, const struct pps_profile *p)
{
	for (size_t i = 0; i < p->nr_types; i++) {
		Perftools__Profiles__Profile piece = PERFTOOLS__PROFILES__PROFILE__INIT;
		Perftools__Profiles__ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
		Perftools__Profiles__ValueType *vtp = &vt;

		vt.type = p->types[i].type;
		vt.unit = p->types[i].unit;
		piece.n_sample_type = 1;
		piece.sample_type = &vtp;
		put_piece(w, &piece);
	}
}

/* Protobuf varint encoding, as protobuf-c writes it (int64 negatives take 10 bytes). */
static size_t varint_len(uint64_t v)
{
	/* 7 bits a byte: bits 1..7 take 1, 8..14 take 2, ... 64 takes 10 */
	return 1 + (size_t)(63 - __builtin_clzll(v | 1)) / 7;
}

static uint8_t *put_varint(uint8_t *b, uint64_t v)
{
	while (v >= 0x80) {
		*b++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*b++ = (uint8_t)v;
	return b;
}

/* A Label message's size: proto3 leaves zero fields out. */
static size_t label_len(const struct pps_label_ids *l)
{
	return (l->key ? 1 + varint_len((uint64_t)l->key) : 0) +
	       (l->str ? 1 + varint_len((uint64_t)l->str) : 0) +
	       (l->num ? 1 + varint_len((uint64_t)l->num) : 0) +
	       (l->unit ? 1 + varint_len((uint64_t)l->unit) : 0);
}

/* Encodes n labels as Sample.label fields at b; returns the end. At most 48 bytes a
 * label: a tag, a length under 128, and four tagged varints of at most 10 bytes. */
static uint8_t *put_labels(uint8_t *b, const struct pps_label_ids *labels, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		const struct pps_label_ids *l = &labels[j];

		*b++ = 3 << 3 | 2; /* Sample.label */
		b = put_varint(b, label_len(l));
		if (l->key) {
			*b++ = 1 << 3;
			b = put_varint(b, (uint64_t)l->key);
		}
		if (l->str) {
			*b++ = 2 << 3;
			b = put_varint(b, (uint64_t)l->str);
		}
		if (l->num) {
			*b++ = 3 << 3;
			b = put_varint(b, (uint64_t)l->num);
		}
		if (l->unit) {
			*b++ = 4 << 3;
			b = put_varint(b, (uint64_t)l->unit);
		}
	}
	return b;
}

/* A label set's encoded labels: enc[start .. start + len). */
struct enc_set {
	size_t start, len;
};

/*
 * Samples are most of a profile, so they are encoded here rather than through
 * protobuf-c's two passes over a message built for each: the bytes are the same, one
 * Profile piece holding one Sample (field 2) per sample. (A check: `perf2pprof` of the
 * corpus gives the same bytes, once gunzipped, as with protobuf-c's packing.) Samples
 * share label sets (a thread's pid, tid and name), so each set is encoded once and
 * copied into its samples: at[off] is the set at label_pool[off].
 */
static void put_samples(struct gz_writer *w, struct pps_profile *p)
{
	struct enc_set *at = NULL;
	uint8_t *buf = NULL, *enc = NULL, *e;
	size_t max = 0, total = 0;

	for (size_t i = 0; i < p->nr_samples; i++) {
		const struct sample *src = &p->samples[i];
		size_t n = 32 + 10 * ((size_t)src->nr_locs + p->nr_types) + 48 * src->nr_labels;

		if (n > max)
			max = n;
	}
	for (size_t k = 0; k < p->nr_labelsets; k++)
		total += 48 * (size_t)p->labelsets[k].n;
	buf = malloc(max + 1);
	enc = malloc(total + 1);
	at = malloc((p->label_len + 1) * sizeof(*at));
	if (!buf || !enc || !at) {
		w->err = -ENOMEM;
		goto out_free;
	}
	e = enc;
	for (size_t k = 0; k < p->nr_labelsets; k++) {
		const struct labelset *ls = &p->labelsets[k];
		uint8_t *end = put_labels(e, &p->label_pool[ls->off], ls->n);

		at[ls->off] = (struct enc_set){(size_t)(e - enc), (size_t)(end - e)};
		e = end;
	}
	for (size_t i = 0; i < p->nr_samples && !gz_failed(w); i++) {
		const struct sample *src = &p->samples[i];
		const uint64_t *locs = &p->stack_pool[src->loc_off];
		const int64_t *vals = &p->value_pool[i * p->nr_types];
		const struct enc_set *ls = src->nr_labels ? &at[src->label_off] : NULL;
		size_t locs_len = 0, vals_len = 0, body = 0;
		uint8_t *b = buf;

		for (size_t j = 0; j < src->nr_locs; j++)
			locs_len += varint_len(locs[j]);
		for (size_t j = 0; j < p->nr_types; j++)
			vals_len += varint_len((uint64_t)vals[j]);
		if (src->nr_locs)
			body += 1 + varint_len(locs_len) + locs_len;
		body += 1 + varint_len(vals_len) + vals_len;
		if (ls)
			body += ls->len;

		*b++ = 2 << 3 | 2; /* Profile.sample */
		b = put_varint(b, body);
		if (src->nr_locs) {
			*b++ = 1 << 3 | 2; /* Sample.location_id, packed */
			b = put_varint(b, locs_len);
			for (size_t j = 0; j < src->nr_locs; j++)
				b = put_varint(b, locs[j]);
		}
		*b++ = 2 << 3 | 2; /* Sample.value, packed */
		b = put_varint(b, vals_len);
		for (size_t j = 0; j < p->nr_types; j++)
			b = put_varint(b, (uint64_t)vals[j]);
		if (ls) {
			memcpy(b, enc + ls->start, ls->len);
			b += ls->len;
		}
		gz_append(&w->base, (size_t)(b - buf), buf);
	}
out_free:
	free(at);
	free(enc);
	free(buf);
}

static void put_mappings(struct gz_writer *w, const struct pps_profile *p)
{
	for (size_t i = 0; i < p->nr_mappings && !gz_failed(w); i++) {
		Perftools__Profiles__Profile piece = PERFTOOLS__PROFILES__PROFILE__INIT;
		Perftools__Profiles__Mapping m = PERFTOOLS__PROFILES__MAPPING__INIT;
		Perftools__Profiles__Mapping *mp = &m;
		const struct mapping *src = &p->mappings[i];

		m.id = i + 1;
		m.memory_start = src->start;
		m.memory_limit = src->limit;
		m.file_offset = src->offset;
		m.filename = src->file;
		m.build_id = src->build_id;
		m.has_functions = src->has_functions;
		m.has_filenames = src->has_filenames;
		m.has_line_numbers = src->has_line_numbers;
		m.has_inline_frames = src->has_inline_frames;
		piece.n_mapping = 1;
		piece.mapping = &mp;
		put_piece(w, &piece);
	}
}

/* A scalar field with a one-byte tag (field numbers below 16): left out when 0, as proto3
 * and protobuf-c leave it. */
static size_t field_len(uint64_t v)
{
	return v ? 1 + varint_len(v) : 0;
}

static uint8_t *put_field(uint8_t *b, unsigned int field, uint64_t v)
{
	if (!v)
		return b;
	*b++ = (uint8_t)(field << 3);
	return put_varint(b, v);
}

/* Locations, like samples, are encoded here: one Profile piece per Location (field 4). */
static void put_locations(struct gz_writer *w, const struct pps_profile *p)
{
	/* Tags and varints: 1 + 10 bytes a field at most. */
	uint8_t *buf = malloc(2 * 11 + 3 * 11 + p->max_lines * (2 * 11 + 3 * 11));

	if (!buf) {
		w->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < p->nr_locations && !gz_failed(w); i++) {
		const struct location *src = &p->locations[i];
		const struct pps_line *lines = &p->lines[src->line_off];
		size_t body =
		    field_len(i + 1) + field_len(src->mapping_id) + field_len(src->address);
		uint8_t *b = buf;

		for (size_t j = 0; j < src->nr_lines; j++) {
			size_t ll = field_len(lines[j].function_id) +
				    field_len((uint64_t)lines[j].line) +
				    field_len((uint64_t)lines[j].column);

			body += 1 + varint_len(ll) + ll;
		}
		*b++ = 4 << 3 | 2; /* Profile.location */
		b = put_varint(b, body);
		b = put_field(b, 1, i + 1); /* id */
		b = put_field(b, 2, src->mapping_id);
		b = put_field(b, 3, src->address);
		for (size_t j = 0; j < src->nr_lines; j++) {
			const struct pps_line *l = &lines[j];

			*b++ = 4 << 3 | 2; /* Location.line */
			b = put_varint(b, field_len(l->function_id) + field_len((uint64_t)l->line) +
					      field_len((uint64_t)l->column));
			b = put_field(b, 1, l->function_id);
			b = put_field(b, 2, (uint64_t)l->line);
			b = put_field(b, 3, (uint64_t)l->column);
		}
		gz_append(&w->base, (size_t)(b - buf), buf);
	}
	free(buf);
}

/* And functions: one piece per Function (field 5). */
static void put_functions(struct gz_writer *w, const struct pps_profile *p)
{
	for (size_t i = 0; i < p->nr_functions && !gz_failed(w); i++) {
		const struct function *src = &p->functions[i];
		uint8_t buf[2 * 11 + 5 * 11], *b = buf;

		*b++ = 5 << 3 | 2; /* Profile.function */
		b = put_varint(b, field_len(i + 1) + field_len((uint64_t)src->name) +
				      field_len((uint64_t)src->system_name) +
				      field_len((uint64_t)src->filename) +
				      field_len((uint64_t)src->start_line));
		b = put_field(b, 1, i + 1); /* id */
		b = put_field(b, 2, (uint64_t)src->name);
		b = put_field(b, 3, (uint64_t)src->system_name);
		b = put_field(b, 4, (uint64_t)src->filename);
		b = put_field(b, 5, (uint64_t)src->start_line);
		gz_append(&w->base, (size_t)(b - buf), buf);
	}
}

/* Fields 6 to 14 in one piece: the string table and the scalars, pointing at our arrays. */
static void put_tail(struct gz_writer *w, struct pps_profile *p)
{
	Perftools__Profiles__Profile piece = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType pt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;

	piece.n_string_table = p->nr_strs;
	piece.string_table = p->strs;
	piece.time_nanos = p->time_nanos;
	piece.duration_nanos = p->duration_nanos;
	if (p->period_type.type || p->period_type.unit) {
		pt.type = p->period_type.type;
		pt.unit = p->period_type.unit;
		piece.period_type = &pt;
	}
	piece.period = p->period;
	piece.n_comment = p->nr_comments;
	piece.comment = p->comments;
	piece.default_sample_type = p->default_type;
	put_piece(w, &piece);
}

PPS_API int pps_profile_write(struct pps_profile *p, FILE *f)
{
	struct gz_writer w = {.base.append = gz_append};
	int err;

	if (!p || !f)
		return -EINVAL;
	/* Level 1, as Go's runtime/pprof: profiles are written often and compress well
	 * even so. */
	w.gz = pps_gzout_new(f, Z_BEST_SPEED);
	if (!w.gz)
		return -ENOMEM;

	put_sample_types(&w, p);
	put_samples(&w, p);
	put_mappings(&w, p);
	put_locations(&w, p);
	put_functions(&w, p);
	put_tail(&w, p);
	err = pps_gzout_finish(w.gz);
	if (w.err)
		err = w.err;
	pps_gzout_free(w.gz);
	return err;
}
