/* SPDX-License-Identifier: BSD-2-Clause */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal/datadir.h"

bool pps_datadir_is(const char *path)
{
	struct stat st;

	return strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *pps_datadir_main(const char *dir)
{
	char *p;

	return asprintf(&p, "%s/data", dir) < 0 ? NULL : p;
}

/* data.N: digits only after the dot, as perf names them; not a directory (perf takes
 * regular files only; a link is followed when opened). */
static int data_file(const struct dirent *d)
{
	const char *p = d->d_name;

	if (d->d_type == DT_DIR || strncmp(p, "data.", 5) != 0 || !p[5])
		return 0;
	for (p += 5; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

static int by_number(const struct dirent **a, const struct dirent **b)
{
	unsigned long x = strtoul((*a)->d_name + 5, NULL, 10);
	unsigned long y = strtoul((*b)->d_name + 5, NULL, 10);

	return x < y ? -1 : x > y;
}

int pps_datadir_files(const char *dir, char ***out)
{
	struct dirent **names = NULL;
	char **files = NULL;
	int n, i, err = 0;

	*out = NULL;
	n = scandir(dir, &names, data_file, by_number);
	if (n < 0)
		return -errno;
	files = calloc(n ? (size_t)n : 1, sizeof(*files));
	if (!files)
		err = -ENOMEM;
	for (i = 0; !err && i < n; i++)
		if (asprintf(&files[i], "%s/%s", dir, names[i]->d_name) < 0) {
			files[i] = NULL;
			err = -ENOMEM;
		}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (err) {
		pps_datadir_free(files, (size_t)n);
		return err;
	}
	*out = files;
	return n;
}

void pps_datadir_free(char **files, size_t n)
{
	if (!files)
		return;
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}
