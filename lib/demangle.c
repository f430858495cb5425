/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Demangling through libiberty's cplus_demangle, the demangler of binutils and perf.
 *
 * DMGL_AUTO tries Rust first and then the Itanium C++ ABI: legacy Rust names are valid
 * C++ manglings ("_ZN4core3fmt5write17h...E"), so the order matters, and the Rust
 * demangler drops the "::h<hash>" suffix as rustfilt does. v0 Rust names start with "_R".
 * DMGL_RUST must not be or'ed in: with it set, libiberty stops after the Rust attempt.
 * DMGL_RET_DROP leaves out the return type of function templates ("unsigned long
 * ns::spin<unsigned long>(unsigned long)" is "ns::spin<unsigned long>(unsigned long)"),
 * so a name starts with the scope perf report and pprof users look for; addr2line -C
 * keeps it.
 * PLT symbols ("_ZN3foo3barEv@plt", lib/dso.c) are the target's demangled name plus "@plt",
 * as perf builds them: libiberty rejects the suffix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <demangle.h>

#include "internal/demangle.h"

static char *demangle(const char *name)
{
	return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_RET_DROP | DMGL_AUTO);
}

char *pps_demangle(const char *name)
{
	static const char plt[] = "@plt";
	size_t len = name ? strlen(name) : 0;
	char *target, *dem, *out = NULL;

	/* Every C++ and Rust mangling starts with '_' ("_Z", "_R", "_GLOBAL__sub_I_"). */
	if (!name || name[0] != '_')
		return NULL;
	if (len <= sizeof(plt) - 1 || strcmp(name + len - (sizeof(plt) - 1), plt))
		return demangle(name);
	target = strndup(name, len - (sizeof(plt) - 1));
	dem = target ? demangle(target) : NULL;
	if (dem && asprintf(&out, "%s%s", dem, plt) < 0)
		out = NULL;
	free(dem);
	free(target);
	return out;
}
