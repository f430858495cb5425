/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tracepoint formats (see internal/tracepoint.h).
 *
 * The blob is perf's tracing_data (tools/perf/util/trace-event-info.c writes it,
 * trace-event-read.c reads it): the tracefs files perf copied at record time, with sizes
 * in the recording machine's byte order. It comes from untrusted files, so every size is
 * checked against what remains before anything is allocated or copied; perf's reader
 * instead treats a failed read as a size of 0. Recordings hold few tracepoints (perf saves
 * only the formats of the events it recorded), so parsing costs little; reads happen per
 * sample, so a field is resolved once and read with a bounds check and a memcpy.
 *
 * The libtraceevent handle is private: nobody registers handlers on it, which lets us keep
 * our per-event wrapper in tep_event.context. Not thread-safe (wrappers are made lazily).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traceevent/event-parse.h>
#include <traceevent/event-utils.h>
#include <tracefs/tracefs.h>

#include "internal/tracepoint.h"
#include "internal/util.h"

struct pps_tp_field {
	struct pps_tp_field *next;	   /* the event's other resolved fields */
	const struct tep_format_field *tf; /* libtraceevent's description, owned by the tep */
	bool swap;			   /* the recording's byte order differs from ours */
};

struct pps_tp_event {
	struct pps_tp_event *next;   /* all wrappers of the handle, for freeing */
	struct tep_event *ev;	     /* owned by the tep */
	struct pps_tracepoints *t;   /* the handle that owns us */
	struct pps_tp_field *fields; /* fields looked up so far */
	bool state_decoded;	     /* state_letter/state_mask/preempt_bit are set */
	uint64_t state_mask;	     /* prev_state bits the letter table covers */
	uint64_t preempt_bit;	     /* the "+" bit (TASK_REPORT_MAX), 0 when unknown */
	char state_letter[64];	     /* letter per bit of state_mask, 0 when none */
};

struct pps_tracepoints {
	struct tep_handle *tep;	     /* the parsed formats */
	bool swap;		     /* file byte order differs from the host's */
	struct pps_tp_event *events; /* wrappers made so far */
};

/*
 * libtraceevent and libtracefs report through the weak tep_vprint(), which prints to
 * stderr; the library never prints, so their messages become our debug log. Weak, so a
 * program that has its own wins at link time.
 */
__attribute__((weak, visibility("default"), format(printf, 4, 0))) int
tep_vprint(const char *name, enum tep_loglevel level, bool print_err, const char *fmt, va_list ap)
{
	char buf[512];

	(void)level;
	(void)print_err;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	pps_debug("%s: %s", name ? name : "libtraceevent", buf);
	return 0;
}

/* ---- the blob ---- */

/* Longest NUL-terminated string we accept (version, system name); perf's is BUFSIZ - 1. */
#define BLOB_MAX_STRING 8191

struct blob {
	const uint8_t *base;
	struct pps_cursor c;
	bool swap; /* sizes are in the other byte order */
};

static size_t blob_off(const struct blob *b)
{
	return (size_t)(b->c.p - b->base);
}

static void blob_warn(const struct blob *b, const char *what)
{
	pps_warn("tracing data: %s at offset %zu of %zu", what, blob_off(b),
		 (size_t)(b->c.end - b->base));
}

/* A corrupt-blob verdict: logs what and where, evaluates to -EPROTO. */
#define BLOB_CORRUPT(b, what) (blob_warn((b), (what)), PPS_CORRUPT)

static bool blob_u32(struct blob *b, uint32_t *v)
{
	if (!pps_cursor_u32(&b->c, v))
		return false;
	if (b->swap)
		*v = __builtin_bswap32(*v);
	return true;
}

static bool blob_u64(struct blob *b, uint64_t *v)
{
	if (!pps_cursor_u64(&b->c, v))
		return false;
	if (b->swap)
		*v = __builtin_bswap64(*v);
	return true;
}

/* A NUL-terminated string in place; *s points into the blob. */
static bool blob_string(struct blob *b, const char **s)
{
	size_t left = pps_cursor_left(&b->c);
	size_t max = left < BLOB_MAX_STRING + 1 ? left : BLOB_MAX_STRING + 1;
	const void *nul = memchr(b->c.p, '\0', max);

	if (!nul)
		return false;
	*s = (const char *)b->c.p;
	b->c.p = (const uint8_t *)nul + 1;
	return true;
}

/*
 * n bytes of the blob as a malloc'ed NUL-terminated copy (libtraceevent wants mutable or
 * terminated text). Returns 0, -EPROTO when the bytes are not there, -ENOMEM.
 */
static int blob_text(struct blob *b, uint64_t n, const char *what, char **out)
{
	const void *p;

	*out = NULL;
	if (n > pps_cursor_left(&b->c) || !pps_cursor_array(&b->c, n, 1, &p))
		return BLOB_CORRUPT(b, what);
	*out = malloc((size_t)n + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, p, (size_t)n);
	(*out)[n] = '\0';
	return 0;
}

static int read_header_files(struct pps_tracepoints *t, struct blob *b)
{
	static const char page_tag[12] = "header_page";
	static const char event_tag[13] = "header_event";
	char tag[13];
	uint64_t size;
	char *text;
	int err;

	if (!pps_cursor_bytes(&b->c, tag, sizeof(page_tag)) ||
	    memcmp(tag, page_tag, sizeof(page_tag)) != 0)
		return BLOB_CORRUPT(b, "no header_page tag");
	if (!blob_u64(b, &size))
		return BLOB_CORRUPT(b, "truncated header_page size");
	err = blob_text(b, size, "header_page larger than the blob", &text);
	if (err)
		return err;
	/* As perf: the commit field of the page header is a long of the kernel's size. */
	if (tep_parse_header_page(t->tep, text, (unsigned long)size, tep_get_long_size(t->tep)) ==
	    0) {
		int hp = tep_get_header_page_size(t->tep);

		if (hp == 4 || hp == 8)
			tep_set_long_size(t->tep, hp);
	} else {
		pps_debug("tracing data: header_page not understood, long size kept");
	}
	free(text);

	if (!pps_cursor_bytes(&b->c, tag, sizeof(event_tag)) ||
	    memcmp(tag, event_tag, sizeof(event_tag)) != 0)
		return BLOB_CORRUPT(b, "no header_event tag");
	/* header_event describes the ring buffer's event headers, which perf never hands us. */
	if (!blob_u64(b, &size))
		return BLOB_CORRUPT(b, "truncated header_event size");
	if (size > pps_cursor_left(&b->c))
		return BLOB_CORRUPT(b, "header_event larger than the blob");
	b->c.p += size;
	return 0;
}

/*
 * ---- format text checks ----
 *
 * libtraceevent 1.7 parses text it was not meant to see badly: fuzzing found NULL
 * dereferences on a print fmt that reads an undeclared field (REC->x, as a damaged name
 * makes it) and on an unclosed '[' in a field, and a division by zero on "R/C->buf". So a
 * format file reaches it only when its field section has the kernel's shape, and its print
 * fmt only when it parses as the small C expression language of TP_printk() (a print fmt
 * that does not is cut off: the fields stay usable, only the event's text rendering and
 * our state table go).
 */

static bool is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static bool digits(const char **p)
{
	const char *s = *p;

	while (**p >= '0' && **p <= '9')
		(*p)++;
	return *p > s;
}

static bool skip_lit(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

/* "\tfield:DECL;\toffset:N;\tsize:N;[\tsigned:N;]" up to eol; DECL is names, spaces, '*'
 * and at most non-nested [...] groups. */
static bool field_line_ok(const char *p, const char *eol)
{
	int depth = 0;

	if (!skip_lit(&p, "\tfield:"))
		return false;
	for (; p < eol && *p != ';'; p++) {
		/* Kernel declarations use names, spaces, '*' and [N] only; a quote or other
		 * punctuation sends libtraceevent's tokenizer astray. */
		if (!is_ident(*p) && !strchr(" *[]", *p))
			return false;
		if (*p == '[' && depth++)
			return false;
		if (*p == ']' && --depth)
			return false;
	}
	if (depth || p >= eol)
		return false;
	if (!skip_lit(&p, ";\toffset:") || !digits(&p) || !skip_lit(&p, ";\tsize:") ||
	    !digits(&p) || !skip_lit(&p, ";"))
		return false;
	if (skip_lit(&p, "\tsigned:") && (!digits(&p) || !skip_lit(&p, ";")))
		return false;
	return p == eol;
}

/* Whether the field lines of format text declare name[0..len). */
static bool declares(const char *text, const char *name, size_t len)
{
	for (const char *p = strstr(text, "\tfield:"); p; p = strstr(p + 1, "\tfield:")) {
		const char *semi = strchr(p, ';');
		const char *end, *start;

		if (!semi)
			return false;
		end = semi;
		/* "field:char prev_comm[16];": the name is the identifier before any [N]. */
		for (const char *b = p; b < semi; b++)
			if (*b == '[') {
				end = b;
				break;
			}
		while (end > p && end[-1] == ' ')
			end--;
		start = end;
		while (start > p && is_ident(start[-1]))
			start--;
		if ((size_t)(end - start) == len && memcmp(start, name, len) == 0)
			return true;
	}
	return false;
}

/* A tokenizer and recursive-descent recognizer for print fmt argument expressions. */
enum { TOK_END, TOK_IDENT, TOK_NUM, TOK_STR, TOK_OP, TOK_BAD };

struct pf {
	const char *text; /* the whole format, for field names */
	const char *p;	  /* next character */
	int tok;	  /* current token */
	const char *ts;	  /* its text */
	size_t tl;	  /* and length */
	int depth;	  /* recursion, bounded */
};

static void pf_next(struct pf *s)
{
	static const char *const ops2[] = {"->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||"};
	const char *p = s->p;

	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	s->ts = p;
	if (!*p) {
		s->tok = TOK_END;
	} else if (is_ident(*p)) {
		s->tok = (*p >= '0' && *p <= '9') ? TOK_NUM : TOK_IDENT;
		while (is_ident(*p))
			p++;
	} else if (*p == '"' || *p == '\'') {
		char q = *p++;

		/* The kernel prints a TP_printk "\n" as a real newline. */
		while (*p && *p != q)
			p += (*p == '\\' && p[1]) ? 2 : 1;
		s->tok = *p == q ? TOK_STR : TOK_BAD;
		if (*p == q)
			p++;
	} else {
		s->tok = TOK_OP;
		p++;
		for (size_t i = 0; i < PPS_ARRAY_SIZE(ops2); i++)
			if (s->ts[0] == ops2[i][0] && s->ts[1] == ops2[i][1]) {
				p++;
				break;
			}
		if (!strchr("+-*/%&|^!~<>=?:,(){}[].;", s->ts[0]))
			s->tok = TOK_BAD;
	}
	s->tl = (size_t)(p - s->ts);
	s->p = p;
}

static bool pf_is(const struct pf *s, const char *op)
{
	return s->tok == TOK_OP && s->tl == strlen(op) && memcmp(s->ts, op, s->tl) == 0;
}

static bool pf_eat(struct pf *s, const char *op)
{
	if (!pf_is(s, op))
		return false;
	pf_next(s);
	return true;
}

static bool pf_expr(struct pf *s);

/* After '(' : a type ("unsigned long", "void *", "struct x *") then ')'. */
static bool pf_type_paren(const struct pf *s)
{
	struct pf t = *s;
	bool ident = false;

	while (t.tok == TOK_IDENT || pf_is(&t, "*")) {
		ident |= t.tok == TOK_IDENT;
		pf_next(&t);
	}
	return ident && pf_is(&t, ")");
}

/* The token after '/' or '%': a nonzero literal or sizeof. */
static bool pf_divisor_ok(const struct pf *s)
{
	if (s->tok == TOK_NUM)
		return strtoull(s->ts, NULL, 0) != 0;
	return s->tok == TOK_IDENT && s->tl == 6 && !memcmp(s->ts, "sizeof", 6);
}

/*
 * After "(" at "{": a GNU statement expression "({ ...; })" (kvmmmu, dma_map_sg print
 * them). libtraceevent reads it its own way; we only check that it is balanced, reads
 * declared fields and divides by no constant zero.
 */
static bool pf_statement_expr(struct pf *s)
{
	char stack[64];
	int depth = 1;

	stack[0] = ')';
	while (depth > 0) {
		if (s->tok == TOK_END || s->tok == TOK_BAD)
			return false;
		if (s->tok == TOK_OP && s->tl == 1 && strchr("({[", s->ts[0])) {
			if (depth == (int)sizeof(stack))
				return false;
			stack[depth++] = s->ts[0] == '(' ? ')' : s->ts[0] == '{' ? '}' : ']';
		} else if (s->tok == TOK_OP && s->tl == 1 && strchr(")}]", s->ts[0])) {
			if (stack[--depth] != s->ts[0])
				return false;
		} else if (pf_is(s, "/") || pf_is(s, "%")) {
			pf_next(s);
			if (!pf_divisor_ok(s))
				return false;
			continue;
		} else if (s->tok == TOK_IDENT && s->tl == 3 && !memcmp(s->ts, "REC", 3)) {
			pf_next(s);
			if (!pf_eat(s, "->") || s->tok != TOK_IDENT ||
			    !declares(s->text, s->ts, s->tl))
				return false;
		}
		pf_next(s);
	}
	return true;
}

/* Whether the current token can begin an operand (so "(type)" before it is a cast). */
static bool pf_starts_unary(const struct pf *s)
{
	return s->tok == TOK_IDENT || s->tok == TOK_NUM || s->tok == TOK_STR ||
	       (s->tok == TOK_OP && s->tl == 1 && strchr("(!~-+*&{", s->ts[0]));
}

static bool pf_unary(struct pf *s)
{
	bool ok = false;

	if (++s->depth > 64)
		return false;
	if (pf_eat(s, "!") || pf_eat(s, "~") || pf_eat(s, "-") || pf_eat(s, "+") ||
	    pf_eat(s, "*") || pf_eat(s, "&")) {
		ok = pf_unary(s);
	} else if (s->tok == TOK_NUM) {
		pf_next(s);
		ok = true;
	} else if (s->tok == TOK_STR) {
		while (s->tok == TOK_STR)
			pf_next(s);
		ok = true;
	} else if (s->tok == TOK_IDENT && s->tl == 3 && !memcmp(s->ts, "REC", 3)) {
		pf_next(s);
		if (pf_eat(s, "->") && s->tok == TOK_IDENT && declares(s->text, s->ts, s->tl)) {
			pf_next(s);
			ok = true;
		}
	} else if (s->tok == TOK_IDENT) {
		pf_next(s);
		ok = true;
		if (pf_eat(s, "(")) { /* a call: __print_flags(...), __get_str(x), sizeof(t) */
			if (!pf_eat(s, ")")) {
				do {
					if (pf_type_paren(s)) {
						while (!pf_is(s, ")"))
							pf_next(s);
					} else if (!pf_expr(s)) {
						ok = false;
						break;
					}
				} while (pf_eat(s, ","));
				ok = ok && pf_eat(s, ")");
			}
		}
	} else if (pf_eat(s, "(")) {
		struct pf peek = *s;

		pf_next(&peek);
		if (pf_is(s, "{")) {
			ok = pf_statement_expr(s);
		} else if (s->tok == TOK_IDENT && s->tl == 3 && !memcmp(s->ts, "REC", 3) &&
			   pf_is(&peek, ")")) { /* func_repeats: "(REC)->x" */
			pf_next(s);
			pf_next(s);
			if (pf_eat(s, "->") && s->tok == TOK_IDENT &&
			    declares(s->text, s->ts, s->tl)) {
				pf_next(s);
				ok = true;
			}
		} else if (pf_type_paren(s)) { /* a cast, or a name in parentheses: (X) */
			while (!pf_is(s, ")"))
				pf_next(s);
			pf_next(s);
			ok = pf_starts_unary(s) ? pf_unary(s) : true;
		} else {
			ok = pf_expr(s) && pf_eat(s, ")");
		}
	} else if (pf_eat(s, "{")) { /* { value, "name" } of __print_flags/__print_symbolic */
		ok = true;
		if (!pf_eat(s, "}")) {
			ok = pf_expr(s);
			while (ok && pf_eat(s, ","))
				ok = pf_expr(s);
			ok = ok && pf_eat(s, "}");
		}
	}
	/* Postfix: [index] and .member (REC->a.b, __get_dynamic_array(x)[0]). */
	while (ok && (pf_is(s, "[") || pf_is(s, "."))) {
		if (pf_eat(s, "["))
			ok = pf_expr(s) && pf_eat(s, "]");
		else if (pf_eat(s, ".") && s->tok == TOK_IDENT)
			pf_next(s);
		else
			ok = false;
	}
	s->depth--;
	return ok;
}

static bool pf_binop(const struct pf *s)
{
	static const char *const ops[] = {"+",	"-", "*", "/",	"%",  "&",  "|",  "^",	"<<",
					  ">>", "<", ">", "<=", ">=", "==", "!=", "&&", "||"};

	for (size_t i = 0; i < PPS_ARRAY_SIZE(ops); i++)
		if (pf_is(s, ops[i]))
			return true;
	return false;
}

static bool pf_expr(struct pf *s)
{
	bool ok;

	if (++s->depth > 64)
		return false;
	ok = pf_unary(s);
	while (ok && pf_binop(s)) {
		bool div = pf_is(s, "/") || pf_is(s, "%");

		pf_next(s);
		/* libtraceevent folds divisions of constants at parse time, names counting as 0;
		 * kernels divide by literals and sizeof() only. */
		if (div && !pf_divisor_ok(s))
			ok = false;
		else
			ok = pf_unary(s);
	}
	if (ok && pf_eat(s, "?"))
		ok = pf_expr(s) && pf_eat(s, ":") && pf_expr(s);
	s->depth--;
	return ok;
}

/* "print fmt: "FMT", ARG, ARG..." at fmt (after the tag), to the end of the text. */
static bool print_fmt_ok(const char *text, const char *fmt)
{
	struct pf s = {.text = text, .p = fmt};

	pf_next(&s);
	if (s.tok != TOK_STR)
		return false;
	while (s.tok == TOK_STR)
		pf_next(&s);
	while (pf_eat(&s, ","))
		if (!pf_expr(&s))
			return false;
	return s.tok == TOK_END;
}

/*
 * Checks format text (NUL-terminated): printable lines, "name:", "ID:", "format:", field
 * lines. Returns false when libtraceevent must not see it; else *cut is where to end the
 * text so that a print fmt that fails print_fmt_ok() is left out (the text's end if fine).
 */
static bool format_ok(const char *text, size_t *cut)
{
	const char *fmt = strstr(text, "\nprint fmt: ");
	const char *p = strstr(text, "\nformat:\n");

	*cut = strlen(text);
	for (const char *c = text; *c; c++)
		if ((unsigned char)*c < 0x20 ? (*c != '\t' && *c != '\n')
					     : (unsigned char)*c > 0x7e)
			return false;
	if (strncmp(text, "name: ", 6) != 0 || !strstr(text, "\nID: ") || !p)
		return false;
	for (p += 9; *p && p != fmt + 1;) {
		const char *eol = strchr(p, '\n');

		if (!eol)
			eol = p + strlen(p);
		if (eol != p && !field_line_ok(p, eol))
			return false;
		p = *eol ? eol + 1 : eol;
	}
	if (fmt && !print_fmt_ok(text, fmt + 12))
		*cut = (size_t)(fmt + 1 - text);
	return true;
}

/* One format file of system sys; one libtraceevent cannot parse is skipped. */
static int read_format(struct pps_tracepoints *t, struct blob *b, const char *sys)
{
	size_t off, cut;
	uint64_t size;
	char *text;
	enum tep_errno rc;
	int err;

	if (!blob_u64(b, &size))
		return BLOB_CORRUPT(b, "truncated format file size");
	off = blob_off(b);
	err = blob_text(b, size, "format file larger than the blob", &text);
	if (err)
		return err;
	if (memchr(text, '\0', (size_t)size) || !format_ok(text, &cut)) {
		pps_debug("tracing data: %s format file at offset %zu skipped: not shaped like "
			  "a kernel format file",
			  sys, off);
		free(text);
		return 0;
	}
	if (cut < size) {
		pps_debug("tracing data: %s format file at offset %zu (%.*s): print fmt not "
			  "understood, fields only",
			  sys, off, (int)strcspn(text + 6, "\n"), text + 6);
		text[cut] = '\0';
	}
	rc = tep_parse_event(t->tep, text, (unsigned long)cut, sys);
	if (rc == TEP_ERRNO__MEM_ALLOC_FAILED) {
		err = -ENOMEM;
	} else if (rc) {
		char msg[128];

		if (tep_strerror(t->tep, rc, msg, sizeof(msg)) != 0)
			snprintf(msg, sizeof(msg), "error %d", (int)rc);
		pps_debug("tracing data: %s format file at offset %zu not parsed: %s", sys, off,
			  msg);
	}
	free(text);
	return err;
}

/*
 * The printk formats: lines "0xADDR : \"fmt\"". tep_parse_printk_formats() does the same,
 * but its tep_register_print_string() reads before a format shorter than 3 characters
 * (it looks for a trailing "\\n" at len - 3; ASan in tests/test_tracepoint.c fuzz), so the
 * lines are split here and short ones dropped.
 */
static int register_printk_formats(struct pps_tracepoints *t, char *text)
{
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long addr;
		char *end, *fmt;

		errno = 0;
		addr = strtoull(line, &end, 16);
		if (errno || end == line || strncmp(end, " : ", 3) != 0)
			continue;
		fmt = end + 3;
		if (strlen(fmt + (fmt[0] == '"')) < 3)
			continue;
		if (tep_register_print_string(t->tep, fmt, addr) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* perf writes "0.5" or "0.6"; like perf's atof(version) >= 0.6 without the locale. */
static bool version_has_cmdlines(const char *v)
{
	unsigned long major = 0;

	while (*v >= '0' && *v <= '9')
		major = major * 10 + (unsigned long)(*v++ - '0');
	if (major > 0)
		return true;
	return v[0] == '.' && v[1] >= '6' && v[1] <= '9';
}

static int parse_blob(struct pps_tracepoints *t, struct blob *b)
{
	static const uint8_t magic[10] = {23, 8, 68, 't', 'r', 'a', 'c', 'i', 'n', 'g'};
	uint8_t buf[10];
	const char *version, *sys;
	uint32_t count, nsys, page_size, n32;
	uint64_t n64;
	uint8_t endian, long_size;
	char *text;
	int err;

	if (!pps_cursor_bytes(&b->c, buf, sizeof(magic)) || memcmp(buf, magic, sizeof(magic)))
		return BLOB_CORRUPT(b, "no tracing data magic");
	if (!blob_string(b, &version))
		return BLOB_CORRUPT(b, "unterminated version");
	if (!pps_cursor_bytes(&b->c, &endian, 1) || !pps_cursor_bytes(&b->c, &long_size, 1))
		return BLOB_CORRUPT(b, "truncated endianness/long size");
	b->swap = (endian != 0) != (tep_is_bigendian() != 0);
	t->swap = b->swap;
	tep_set_flag(t->tep, TEP_NSEC_OUTPUT);
	tep_set_file_bigendian(t->tep, endian ? TEP_BIG_ENDIAN : TEP_LITTLE_ENDIAN);
	tep_set_local_bigendian(t->tep, tep_is_bigendian() ? TEP_BIG_ENDIAN : TEP_LITTLE_ENDIAN);
	if (long_size != 4 && long_size != 8)
		return BLOB_CORRUPT(b, "long size neither 4 nor 8");
	if (!blob_u32(b, &page_size) || !page_size || page_size > INT_MAX)
		return BLOB_CORRUPT(b, "bad page size");
	tep_set_long_size(t->tep, long_size);
	tep_set_page_size(t->tep, (int)page_size);

	err = read_header_files(t, b);
	if (err)
		return err;

	/* ftrace's own events (function, print, ...). */
	if (!blob_u32(b, &count))
		return BLOB_CORRUPT(b, "truncated ftrace format count");
	for (uint32_t i = 0; i < count; i++) {
		err = read_format(t, b, "ftrace");
		if (err)
			return err;
	}

	if (!blob_u32(b, &nsys))
		return BLOB_CORRUPT(b, "truncated event system count");
	for (uint32_t s = 0; s < nsys; s++) {
		if (!blob_string(b, &sys))
			return BLOB_CORRUPT(b, "unterminated event system name");
		if (!blob_u32(b, &count))
			return BLOB_CORRUPT(b, "truncated event format count");
		for (uint32_t i = 0; i < count; i++) {
			err = read_format(t, b, sys);
			if (err)
				return err;
		}
	}

	/* kallsyms: perf >= 5.x writes an empty one; older ones the whole file. Symbols are
	 * the symbolizer's business, so it is skipped either way. */
	if (!blob_u32(b, &n32))
		return BLOB_CORRUPT(b, "truncated kallsyms size");
	if (n32 > pps_cursor_left(&b->c))
		return BLOB_CORRUPT(b, "kallsyms larger than the blob");
	b->c.p += n32;

	/* printk formats, for bprint events. */
	if (!blob_u32(b, &n32))
		return BLOB_CORRUPT(b, "truncated printk formats size");
	if (n32) {
		err = blob_text(b, n32, "printk formats larger than the blob", &text);
		if (err)
			return err;
		err = register_printk_formats(t, text);
		free(text);
		if (err)
			return err;
	}

	if (version_has_cmdlines(version)) {
		if (!blob_u64(b, &n64))
			return BLOB_CORRUPT(b, "truncated saved cmdlines size");
		if (n64) {
			err = blob_text(b, n64, "saved cmdlines larger than the blob", &text);
			if (err)
				return err;
			if (tep_parse_saved_cmdlines(t->tep, text) < 0)
				pps_debug("tracing data: saved cmdlines not parsed");
			free(text);
		}
	}
	/* Pipe mode pads the record to 8 bytes; anything after that is not ours. */
	return 0;
}

struct pps_tracepoints *pps_tracepoints_new(const void *blob, size_t size)
{
	struct pps_tracepoints *t;
	struct blob b = {0};
	int err;

	if (!blob && size) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto out_nomem;
	t->tep = tep_alloc();
	if (!t->tep)
		goto out_free;
	b.base = blob;
	pps_cursor_init(&b.c, blob, size);
	err = parse_blob(t, &b);
	if (err) {
		pps_tracepoints_free(t);
		errno = -err;
		return NULL;
	}
	return t;

out_free:
	free(t);
out_nomem:
	errno = ENOMEM;
	return NULL;
}

struct pps_tracepoints *pps_tracepoints_new_local(const char *const *systems)
{
	struct pps_tracepoints *t;
	struct tep_handle *tep;

	errno = 0;
	tep = systems ? tracefs_local_events_system(NULL, systems) : tracefs_local_events(NULL);
	if (!tep) {
		if (!errno)
			errno = ENOENT;
		pps_warn("tracefs: cannot load the local tracepoint formats: %s", strerror(errno));
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		tep_free(tep);
		errno = ENOMEM;
		return NULL;
	}
	t->tep = tep;
	t->swap = false;
	return t;
}

void pps_tracepoints_free(struct pps_tracepoints *t)
{
	struct pps_tp_event *e, *enext;
	struct pps_tp_field *f, *fnext;

	if (!t)
		return;
	for (e = t->events; e; e = enext) {
		enext = e->next;
		for (f = e->fields; f; f = fnext) {
			fnext = f->next;
			free(f);
		}
		e->ev->context = NULL;
		free(e);
	}
	tep_free(t->tep);
	free(t);
}

/* Our wrapper of ev, made on first use; NULL on ENOMEM. */
static struct pps_tp_event *wrap(struct pps_tracepoints *t, struct tep_event *ev)
{
	struct pps_tp_event *e;

	if (!ev)
		return NULL;
	if (ev->context)
		return ev->context;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ev = ev;
	e->t = t;
	e->next = t->events;
	t->events = e;
	ev->context = e;
	return e;
}

struct pps_tp_event *pps_tracepoints_event(struct pps_tracepoints *t, uint64_t id)
{
	if (!t || id > INT_MAX)
		return NULL;
	return wrap(t, tep_find_event(t->tep, (int)id));
}

struct pps_tp_event *pps_tracepoints_find(struct pps_tracepoints *t, const char *system,
					  const char *name)
{
	if (!t || !name)
		return NULL;
	return wrap(t, tep_find_event_by_name(t->tep, system, name));
}

const char *pps_tp_event_system(const struct pps_tp_event *e)
{
	return e->ev->system;
}

const char *pps_tp_event_name(const struct pps_tp_event *e)
{
	return e->ev->name;
}

uint64_t pps_tp_event_id(const struct pps_tp_event *e)
{
	return (uint64_t)e->ev->id;
}

const struct pps_tp_field *pps_tp_field(struct pps_tp_event *e, const char *name)
{
	struct tep_format_field *tf;
	struct pps_tp_field *f;

	if (!e || !name)
		return NULL;
	for (f = e->fields; f; f = f->next)
		if (strcmp(f->tf->name, name) == 0)
			return f;
	tf = tep_find_any_field(e->ev, name);
	if (!tf)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->tf = tf;
	f->swap = e->t->swap;
	f->next = e->fields;
	e->fields = f;
	return f;
}

/* Whether [off, off + len) lies inside raw_size bytes. */
static bool in_bounds(long off, long len, size_t raw_size)
{
	return off >= 0 && len >= 0 && (unsigned long)off <= raw_size &&
	       (unsigned long)len <= raw_size - (unsigned long)off;
}

int pps_tp_read_u64(const struct pps_tp_field *f, const void *raw, size_t raw_size, uint64_t *v)
{
	const struct tep_format_field *tf;
	uint64_t x = 0;
	int size;

	if (!f || !raw)
		return -EINVAL;
	tf = f->tf;
	size = tf->size;
	if (tf->flags & (TEP_FIELD_IS_ARRAY | TEP_FIELD_IS_DYNAMIC | TEP_FIELD_IS_STRING))
		return -EINVAL;
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return -EINVAL;
	if (!in_bounds(tf->offset, size, raw_size))
		return -EINVAL;
	switch (size) {
	case 1: {
		uint8_t u;

		memcpy(&u, (const uint8_t *)raw + tf->offset, 1);
		x = (tf->flags & TEP_FIELD_IS_SIGNED) ? (uint64_t)(int64_t)(int8_t)u : u;
		break;
	}
	case 2: {
		uint16_t u;

		memcpy(&u, (const uint8_t *)raw + tf->offset, 2);
		if (f->swap)
			u = __builtin_bswap16(u);
		x = (tf->flags & TEP_FIELD_IS_SIGNED) ? (uint64_t)(int64_t)(int16_t)u : u;
		break;
	}
	case 4: {
		uint32_t u;

		memcpy(&u, (const uint8_t *)raw + tf->offset, 4);
		if (f->swap)
			u = __builtin_bswap32(u);
		x = (tf->flags & TEP_FIELD_IS_SIGNED) ? (uint64_t)(int64_t)(int32_t)u : u;
		break;
	}
	default:
		memcpy(&x, (const uint8_t *)raw + tf->offset, 8);
		if (f->swap)
			x = __builtin_bswap64(x);
		break;
	}
	*v = x;
	return 0;
}

int pps_tp_read_str(const struct pps_tp_field *f, const void *raw, size_t raw_size, char *buf,
		    size_t size)
{
	const struct tep_format_field *tf;
	const char *s;
	long off, len;
	size_t n;

	if (!f || !raw || !buf || !size)
		return -EINVAL;
	tf = f->tf;
	if (tf->flags & TEP_FIELD_IS_DYNAMIC) {
		/* __data_loc: u32, length << 16 | offset; __rel_loc: offset from the field's end.
		 */
		uint32_t loc;

		if (tf->size != 4 || !in_bounds(tf->offset, 4, raw_size))
			return -EINVAL;
		memcpy(&loc, (const uint8_t *)raw + tf->offset, 4);
		if (f->swap)
			loc = __builtin_bswap32(loc);
		off = (long)(loc & 0xffff);
		len = (long)(loc >> 16);
		if (tf->flags & TEP_FIELD_IS_RELATIVE)
			off += tf->offset + tf->size;
	} else if ((tf->flags & TEP_FIELD_IS_STRING) ||
		   ((tf->flags & TEP_FIELD_IS_ARRAY) && tf->elementsize == 1)) {
		off = tf->offset;
		len = tf->size;
	} else {
		return -EINVAL;
	}
	if (!in_bounds(off, len, raw_size))
		return -EINVAL;
	s = (const char *)raw + off;
	n = strnlen(s, (size_t)len);
	if (n > size - 1)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

/* ---- sched_switch prev_state ---- */

/* Whether arg (a print fmt expression) reads the field named name. */
static bool arg_reads(const struct tep_print_arg *arg, const char *name, int depth)
{
	if (!arg || depth > 32)
		return false;
	switch (arg->type) {
	case TEP_PRINT_FIELD:
		return arg->field.name && strcmp(arg->field.name, name) == 0;
	case TEP_PRINT_TYPE:
		return arg_reads(arg->typecast.item, name, depth + 1);
	case TEP_PRINT_OP:
		return arg_reads(arg->op.left, name, depth + 1) ||
		       arg_reads(arg->op.right, name, depth + 1);
	default:
		return false;
	}
}

/* The first __print_flags() over field name in args (depth-first), NULL when none. */
static const struct tep_print_arg *find_flags(const struct tep_print_arg *arg, const char *name,
					      int depth)
{
	const struct tep_print_arg *r = NULL;

	for (; arg && !r && depth <= 32; arg = arg->next) {
		switch (arg->type) {
		case TEP_PRINT_FLAGS:
			if (arg_reads(arg->flags.field, name, 0))
				return arg;
			break;
		case TEP_PRINT_OP:
			/* A ?: is an OP whose right side is the ':' OP of both branches. */
			r = find_flags(arg->op.left, name, depth + 1);
			if (!r)
				r = find_flags(arg->op.right, name, depth + 1);
			break;
		case TEP_PRINT_TYPE:
			r = find_flags(arg->typecast.item, name, depth + 1);
			break;
		case TEP_PRINT_FUNC:
			r = find_flags(arg->func.args, name, depth + 1);
			break;
		default:
			break;
		}
	}
	return r;
}

/* The kernel's TASK_REPORT order since 4.14 (S D T t X Z P I), for formats we cannot read. */
static void default_states(struct pps_tp_event *e)
{
	static const char letters[] = "SDTtXZPI";

	memset(e->state_letter, 0, sizeof(e->state_letter));
	for (size_t i = 0; i < sizeof(letters) - 1; i++)
		e->state_letter[i] = letters[i];
	e->state_mask = 0xff;
	e->preempt_bit = 0x100;
}

static void decode_states(struct pps_tp_event *e)
{
	const struct tep_print_arg *flags = NULL;
	const struct tep_print_flag_sym *sym;
	uint64_t mask = 0;
	char letter[64] = {0};

	e->state_decoded = true;
	if (e->ev && !(e->ev->flags & TEP_EVENT_FL_FAILED))
		flags = find_flags(e->ev->print_fmt.args, "prev_state", 0);
	if (!flags) {
		default_states(e);
		return;
	}
	for (sym = flags->flags.flags; sym; sym = sym->next) {
		unsigned long long v;
		char *end;
		int bit;

		if (!sym->value || !sym->str || !sym->str[0])
			continue;
		errno = 0;
		v = strtoull(sym->value, &end, 0);
		if (errno || *end || !v || (v & (v - 1)))
			continue; /* not a single bit: composite states are not letters */
		bit = __builtin_ctzll(v);
		if (!letter[bit])
			letter[bit] = sym->str[0];
		mask |= v;
	}
	if (!mask) {
		default_states(e);
		return;
	}
	memcpy(e->state_letter, letter, sizeof(letter));
	e->state_mask = mask;
	/* The print fmt tests the bit above the table (TASK_REPORT_MAX, TASK_STATE_MAX). */
	e->preempt_bit = (mask >> 63) ? 0 : (uint64_t)1 << (64 - __builtin_clzll(mask));
}

char pps_tp_sched_state(struct pps_tp_event *sched_switch, uint64_t prev_state, bool *preempted)
{
	struct pps_tp_event fallback;
	struct pps_tp_event *e = sched_switch;
	uint64_t s;
	char c;

	if (!e) {
		memset(&fallback, 0, sizeof(fallback));
		default_states(&fallback);
		e = &fallback;
	} else if (!e->state_decoded) {
		decode_states(e);
	}
	s = prev_state & e->state_mask;
	if (!s) {
		if (preempted)
			*preempted = true;
		return 'R';
	}
	if (preempted)
		*preempted = false;
	/* Several bits: the lowest, as perf sched's task_state_char() (ffs). */
	c = e->state_letter[__builtin_ctzll(s)];
	return c ? c : '?';
}
