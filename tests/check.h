/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The unit tests' check: a failed condition is counted and reported with its place and a
 * message, and the test goes on, so one run shows every failure. main() returns non-zero
 * when failures is.
 */
#ifndef PPS_TESTS_CHECK_H
#define PPS_TESTS_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

#endif /* PPS_TESTS_CHECK_H */
