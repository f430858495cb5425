/* SPDX-License-Identifier: BSD-2-Clause */
/* The shared library of the plt workload: one tiny function, called through the PLT. */
int tiny_inc(int x);

int tiny_inc(int x)
{
	return x + 1;
}
