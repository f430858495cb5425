/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * perf.data directories. perf record --threads (and --kcore) writes a directory instead
 * of a file: the header and the records written before and after the run in DIR/data,
 * each thread's ring buffers in DIR/data.N (raw records, no header), as the DIR_FORMAT
 * header feature says.
 */
#ifndef PPS_INTERNAL_DATADIR_H
#define PPS_INTERNAL_DATADIR_H

#include <stdbool.h>
#include <stddef.h>

/* Whether path is a directory (a perf.data directory, if anything). */
bool pps_datadir_is(const char *path);

/* "dir/data", the file with the header, malloc'ed; NULL on ENOMEM. */
char *pps_datadir_main(const char *dir);

/*
 * The data.N files of directory dir, in the order of N, as malloc'ed "dir/data.N" paths in
 * a malloc'ed array *out (free with pps_datadir_free()). Returns how many, or negative
 * errno.
 */
int pps_datadir_files(const char *dir, char ***out);
void pps_datadir_free(char **files, size_t n);

#endif /* PPS_INTERNAL_DATADIR_H */
