// Private to CDNNL: work split over libgomp's team (the threads oneDNN runs on), through
// libgomp's C entry points, since Swift's clang does not compile the shim with -fopenmp.
#ifndef CDNNL_TEAM_H
#define CDNNL_TEAM_H

#include <algorithm>

extern "C" int omp_get_thread_num(void);
extern "C" int omp_get_num_threads(void);
/// libgomp's entry for `#pragma omp parallel`: runs fn(data) on a team of num_threads (0: the
/// default), the caller included, and returns when all have.
extern "C" void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);

namespace cdnnl_team {
/// The most threads a team is asked for (per-thread results may be kept in arrays this long).
constexpr int maximumThreads = 64;

/// The team `run` asks for when given `threads`.
inline int size(int threads) { return std::min(std::max(threads, 1), maximumThreads); }

/// fn(data) on `size(threads)` threads, the caller included; with one, on the caller alone.
inline void run(void (*fn)(void *), void *data, int threads) {
    const int team = size(threads);
    if (team == 1) {
        fn(data);
        return;
    }
    GOMP_parallel(fn, data, static_cast<unsigned>(team), 0);
}

/// This thread's equal share [begin, end) of `count` items, inside `run`'s function (outside a
/// team, where the thread is 0 of 1: all of them); `thread` is its index in the team.
struct Share {
    long begin, end;
    int thread;
};
inline Share share(long count) {
    const int thread = omp_get_thread_num(), team = omp_get_num_threads();
    return {count * thread / team, count * (thread + 1) / team, thread};
}
}  // namespace cdnnl_team

#endif
