/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The library never prints: diagnostics go to one process-wide callback, as with
 * libbpf_set_print(). Without a callback they are dropped.
 */
#ifndef PPROFSTORE_LOG_H
#define PPROFSTORE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum pps_log_level {
	PPS_LOG_ERROR,
	PPS_LOG_WARN,
	PPS_LOG_INFO,
	PPS_LOG_DEBUG,
};

/* msg is one line without a trailing newline, valid only during the call. */
typedef void (*pps_log_fn)(enum pps_log_level level, const char *msg, void *ctx);

/* Sets the callback; returns the previous one. Not thread-safe against concurrent logging. */
pps_log_fn pps_set_log(pps_log_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* PPROFSTORE_LOG_H */
