extension Parallel {
    /// Like `forEachChunk`, but tells `body` which worker (0..<workers) runs the chunk, so that a
    /// reduction can keep one partial result per worker. Returns the worker count used
    /// (≤ `threadCount`, ≥ 1 when `count` > 0). Chunks are contiguous and balanced.
    @discardableResult
    public static func forEachWorker(_ count: Int, workers requested: Int = threadCount,
                                     _ body: @Sendable (_ worker: Int, _ range: Range<Int>) -> Void) -> Int {
        let workers = max(1, min(requested, count))
        guard count > 0 else { return 0 }
        if workers == 1 {
            body(0, 0..<count)
            return 1
        }
        perform(iterations: workers) { worker in
            let start = count * worker / workers
            let end = count * (worker + 1) / workers
            if start < end { body(worker, start..<end) }
        }
        return workers
    }
}
