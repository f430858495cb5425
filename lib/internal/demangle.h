/* SPDX-License-Identifier: BSD-2-Clause */
/* Symbol names as people read them: C++ (Itanium ABI) and Rust (legacy and v0). */
#ifndef PPS_INTERNAL_DEMANGLE_H
#define PPS_INTERNAL_DEMANGLE_H

/*
 * The demangled form of name with parameter lists, as perf and addr2line -C show it;
 * NULL when name is not mangled (or on ENOMEM). The result has to be freed with free().
 */
char *pps_demangle(const char *name);

#endif /* PPS_INTERNAL_DEMANGLE_H */
