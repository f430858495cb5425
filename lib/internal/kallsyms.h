/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_kallsyms: a kernel symbol table in /proc/kallsyms format ("ADDR TYPE NAME [MOD]"),
 * the symbol types perf keeps (text, weak, data, bss), sorted by address, kernel and
 * module symbols alike.
 */
#ifndef PPS_INTERNAL_KALLSYMS_H
#define PPS_INTERNAL_KALLSYMS_H

#include <stdbool.h>
#include <stdint.h>

struct pps_kallsyms;

/*
 * Loads path. 0 and *out (to be freed with pps_kallsyms_free()), or -errno: the open
 * error, or -EPROTO for a file that holds no symbol line.
 */
int pps_kallsyms_load(const char *path, struct pps_kallsyms **out);
void pps_kallsyms_free(struct pps_kallsyms *k);

/* One line of the file, split in place: the strings point into the line. */
struct pps_ksym_line {
	uint64_t addr;
	char type;
	char *name;   /* NUL-terminated */
	char *module; /* NUL-terminated; NULL for the kernel's own symbol */
};

/*
 * Splits "ADDR TYPE NAME" or "ADDR TYPE NAME\t[MODULE]" (at most 16 hex digits), writing
 * NULs into line. false for a malformed line.
 */
bool pps_kallsyms_split(char *line, struct pps_ksym_line *out);

/* true when every address reads 0: kptr_restrict hides them from this reader. */
bool pps_kallsyms_restricted(const struct pps_kallsyms *k);

/* The address of a symbol of any type in the file (for "_text", "_stext"); -ENOENT. */
int pps_kallsyms_symbol(const struct pps_kallsyms *k, const char *name, uint64_t *addr);

/*
 * The symbol addr falls in (from its address up to the next symbol's). Returns its
 * name (valid until pps_kallsyms_free()) and *module (NULL for the kernel itself), or
 * NULL when addr is outside every symbol.
 */
const char *pps_kallsyms_find(const struct pps_kallsyms *k, uint64_t addr, const char **module);

#endif /* PPS_INTERNAL_KALLSYMS_H */
