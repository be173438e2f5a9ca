import Dispatch

/// The engine's own threads: split an index range over `Parallel.threadCount` workers. Kernels
/// that use this call BLAS with OpenBLAS set to one thread (see `BLAS`).
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
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let start = count * worker / workers
            let end = count * (worker + 1) / workers
            if start < end { body(start..<end) }
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
