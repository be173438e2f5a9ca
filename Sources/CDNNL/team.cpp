// The engine's parallel loops on libgomp's team (`cdnnl_team_run` in CDNNL.h).
#include "CDNNL.h"
#include "team.h"

namespace {
struct TeamJob {
    cdnnl_team_body body;
    void *context;
    long iterations;
};

/// One thread of the team: iterations thread, thread + team, … (all of them when the team is
/// smaller than asked, e.g. one thread inside another team).
void teamShare(void *data) {
    const TeamJob &job = *static_cast<const TeamJob *>(data);
    const int thread = omp_get_thread_num(), team = omp_get_num_threads();
    for (long iteration = thread; iteration < job.iterations; iteration += team) job.body(job.context, iteration);
}
}  // namespace

extern "C" void cdnnl_team_run(cdnnl_team_body body, void *context, long iterations) {
    if (iterations <= 0) return;
    TeamJob job{body, context, iterations};
    cdnnl_team::run(teamShare, &job, static_cast<int>(std::min<long>(iterations, cdnnl_team::maximumThreads)));
}
