/* SPDX-License-Identifier: BSD-2-Clause */
/* Symbol names as people read them: C++ (Itanium ABI) and Rust (legacy and v0). */
#ifndef PPS_INTERNAL_DEMANGLE_H
#define PPS_INTERNAL_DEMANGLE_H

/*
 * The demangled form of name with parameter lists and without template functions'
 * return types (perf report -v shows it so; addr2line -C adds the return type);
 * NULL when name is not mangled (or on ENOMEM). The result has to be freed with free().
 */
char *pps_demangle(const char *name);

#endif /* PPS_INTERNAL_DEMANGLE_H */
