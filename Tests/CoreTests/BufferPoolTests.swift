@testable import Core
import Testing

/// The free list outside planned steps (forward passes): which idle buffer serves a request.
/// Each test uses its own pool, so other suites' tensors cannot take its buffers.
@Suite("The buffer pool's free list")
struct BufferPoolTests {
    @Test("an idle buffer of the next size class serves a smaller request and goes back to its own class")
    func nextSizeClass() {
        let pool = BufferPool()
        let (large, largeCapacity) = pool.takePlanned(100_000)
        #expect(largeCapacity == 131_072)
        pool.recycle(large, capacity: largeCapacity)
        let (half, halfCapacity) = pool.takePlanned(40_000)  // class 65,536: the idle 131,072 fits
        #expect(half == large && halfCapacity == largeCapacity)
        #expect(pool.idleBytes == 0)
        pool.recycle(half, capacity: halfCapacity)
        #expect(pool.idleBytes == 131_072 * 4)
        pool.drain()
    }

    @Test("an idle buffer four times the size class, or any larger small buffer, is not taken")
    func noLargerFits() {
        let pool = BufferPool()
        let (large, largeCapacity) = pool.takePlanned(100_000)
        pool.recycle(large, capacity: largeCapacity)
        let (quarter, quarterCapacity) = pool.takePlanned(20_000)  // class 32,768
        #expect(quarter != large && quarterCapacity == 32_768)
        pool.recycle(quarter, capacity: quarterCapacity)

        let (small, smallCapacity) = pool.takePlanned(8_000)  // below 16,384 floats: exact sizes
        pool.recycle(small, capacity: smallCapacity)
        let (smaller, smallerCapacity) = pool.takePlanned(5_000)
        #expect(smaller != small && smallerCapacity == 5_000)
        pool.recycle(smaller, capacity: smallerCapacity)
        pool.drain()
    }
}
