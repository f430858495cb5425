/* SPDX-License-Identifier: BSD-2-Clause */
/* pprofstore's public API: include this one header. */
#ifndef PPROFSTORE_H
#define PPROFSTORE_H

#define PPS_VERSION_MAJOR 0
#define PPS_VERSION_MINOR 1
#define PPS_VERSION_PATCH 0
#define PPS_VERSION_STRING "0.1.0"

#include <pprofstore/compare.h>
#include <pprofstore/convert.h>
#include <pprofstore/log.h>
#include <pprofstore/profile.h>
#include <pprofstore/reader.h>
#include <pprofstore/record.h>
#include <pprofstore/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version at run time, e.g. "0.1.0". */
const char *pps_version(void);

#ifdef __cplusplus
}
#endif
#endif /* PPROFSTORE_H */
