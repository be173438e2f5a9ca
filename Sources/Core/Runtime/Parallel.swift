import CDNNL

/// The engine's own parallel loops: split an index range over `Parallel.threadCount` workers of
/// libgomp's team (`perform`). Kernels that use this call BLAS with OpenBLAS set to one thread
/// (see `BLAS`).
public enum Parallel {
    /// Worker count for engine kernels (default: 2, this machine's cores). Process-global.
    nonisolated(unsafe) public static var threadCount = 2

    /// Runs `body(range)` on contiguous chunks of `0..<count`, in parallel when worth it.
    /// `body` must only write disjoint memory per chunk.
    public static func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        let workers = min(threadCount, max(1, count / max(minimumChunk, 1)))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        perform(iterations: workers) { worker in
            let start = count * worker / workers
            let end = count * (worker + 1) / workers
            if start < end { body(start..<end) }
        }
    }

    /// body(i) for each i in 0..<iterations, in parallel, on libgomp's team: the threads
    /// oneDNN's convolutions run on, the caller among them. Returns when all have run.
    ///
    /// One pool of threads for the whole engine: with the engine's loops on their own threads
    /// (Dispatch's), libgomp's workers, which spin for a while after each convolution, took a
    /// core from the next engine operation on a two-core machine; perf counted 33–55 % of a
    /// forward pass's or training step's cycles in libgomp. On the team, the spinning worker
    /// takes the next loop at once (Benchmarks/README.md, "One thread pool"). Nested inside a
    /// team (a loop inside a loop), the iterations run on the calling thread.
    static func perform(iterations: Int, _ body: @Sendable (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var work = body
            withUnsafeMutablePointer(to: &work) { pointer in
                cdnnl_team_run({ context, iteration in
                    context!.assumingMemoryBound(to: (@Sendable (Int) -> Void).self).pointee(iteration)
                }, pointer, iterations)
            }
        }
    }
}

/// A raw pointer that may cross into `@Sendable` closures; each worker must write a disjoint
/// range (PLATFORM-NOTES §5.7).
public struct SendablePointer<Pointee>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Pointee>
    public init(_ pointer: UnsafeMutablePointer<Pointee>) { self.pointer = pointer }
}

/// A read-only raw pointer that may cross into `@Sendable` closures.
public struct SendableConstPointer<Pointee>: @unchecked Sendable {
    public let pointer: UnsafePointer<Pointee>
    public init(_ pointer: UnsafePointer<Pointee>) { self.pointer = pointer }
}
