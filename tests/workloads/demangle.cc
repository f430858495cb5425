// SPDX-License-Identifier: BSD-2-Clause
//
// Workload for tests/test_convert.py: most of the time in a function template and in a
// method of a namespaced class, so the pprof output must show demangled names such as
// pps_work::Cruncher::crunch and pps_work::spin<unsigned long>.
// Usage: demangle [SECONDS] (default 1).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace pps_work {

static volatile std::uint64_t sink;

// Called at the end so spin and crunch are not leaf functions (GCC 12 gives a leaf no frame
// pointer even with -fno-omit-frame-pointer, and perf would lose its caller).
__attribute__((noipa)) void publish(std::uint64_t x)
{
	sink = x;
}

template <typename T> __attribute__((noipa)) T spin(T seed, long n)
{
	T x = seed;
	for (long i = 0; i < n; i++)
		x = x * static_cast<T>(6364136223846793005ULL) + static_cast<T>(1442695040888963407ULL);
	publish(x);
	return x;
}

class Cruncher {
public:
	explicit Cruncher(std::uint64_t s) : state_(s) {}
	__attribute__((noipa)) std::uint64_t crunch(long n);

private:
	std::uint64_t state_;
};

std::uint64_t Cruncher::crunch(long n)
{
	// 2/3 of the time in the template, 1/3 in this method's own loop.
	std::uint64_t x = spin<std::uint64_t>(state_, 2 * n);
	for (long i = 0; i < n; i++)
		x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ULL;
	state_ = x;
	publish(x);
	return x;
}

} // namespace pps_work

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
	auto end = std::chrono::steady_clock::now() +
		   std::chrono::duration_cast<std::chrono::steady_clock::duration>(
			   std::chrono::duration<double>(seconds));
	pps_work::Cruncher c(7);
	std::uint64_t acc = 0;
	while (std::chrono::steady_clock::now() < end)
		acc += c.crunch(100000);
	std::printf("%llu\n", static_cast<unsigned long long>(acc));
	return 0;
}
