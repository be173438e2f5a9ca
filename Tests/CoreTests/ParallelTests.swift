@testable import Core
import Foundation
import Synchronization
import Testing

/// The engine's parallel loops on libgomp's team (`Parallel.perform`): every index exactly
/// once, in balanced contiguous chunks, also when nested in another loop and when several
/// threads start loops at the same time.
@Suite("parallel loops")
struct ParallelTests {
    /// How often each index of 0..<count was visited by `forEachChunk`.
    static func visits(_ count: Int, minimumChunk: Int = 1) -> [Int] {
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0)
        let shared = SendablePointer(counts.baseAddress!)
        Parallel.forEachChunk(count, minimumChunk: minimumChunk) { range in
            for index in range { shared.pointer[index] += 1 }
        }
        return Array(counts)
    }

    @Test("forEachChunk visits every index exactly once, for counts below, at and above the worker count")
    func everyIndexOnce() {
        for count in [0, 1, 2, 3, 7, 1000] {
            #expect(Self.visits(count) == Array(repeating: 1, count: count), "count \(count)")
        }
        #expect(Self.visits(10, minimumChunk: 6) == Array(repeating: 1, count: 10))
    }

    @Test("perform runs every iteration once, more iterations than threads included, on more than one thread")
    func performIterations() {
        let iterations = 64
        let seen = Mutex<[Int: Int]>([:])
        let threads = Mutex<Set<UInt>>([])
        Parallel.perform(iterations: iterations) { iteration in
            seen.withLock { $0[iteration, default: 0] += 1 }
            let thread = UInt(pthread_self())
            threads.withLock { _ = $0.insert(thread) }
            usleep(200)
        }
        #expect(seen.withLock { $0 } == Dictionary(uniqueKeysWithValues: (0..<iterations).map { ($0, 1) }))
        #expect(threads.withLock { $0.count } >= 2, "the team has at least two threads")
    }

    @Test("forEachWorker gives each worker its own index and balanced contiguous chunks")
    func workers() {
        let chunks = Mutex<[Int: Range<Int>]>([:])
        let used = Parallel.forEachWorker(101, workers: 2) { worker, range in chunks.withLock { $0[worker] = range } }
        #expect(used == 2)
        #expect(chunks.withLock { $0 } == [0: 0..<50, 1: 50..<101])
    }

    @Test("a loop inside a loop runs all its iterations (on the calling thread)")
    func nested() {
        let total = Mutex(0)
        Parallel.forEachChunk(4) { outer in
            for _ in outer {
                Parallel.forEachChunk(10) { inner in total.withLock { $0 += inner.count } }
            }
        }
        #expect(total.withLock { $0 } == 40)
    }

    @Test("loops started from several threads at once each visit their indices once")
    func concurrentCallers() async {
        let results = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<6 { group.addTask { Self.visits(5000) } }
            var all: [[Int]] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 6)
        for result in results { #expect(result == Array(repeating: 1, count: 5000)) }
    }
}
