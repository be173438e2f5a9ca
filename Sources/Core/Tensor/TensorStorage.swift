import Foundation

/// The heap buffer behind a `Tensor`. Reference type so that `Tensor` can be a copy-on-write
/// value; the memory comes from and returns to `BufferPool`, so a forward pass that frees one
/// activation and allocates the next of similar size reuses pages instead of faulting new ones.
final class TensorStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    private let capacity: Int

    /// Uninitialised storage for `count` floats.
    init(uninitializedCount count: Int) {
        let (pointer, capacity) = BufferPool.shared.take(count)
        self.pointer = pointer
        self.count = count
        self.capacity = capacity
    }

    /// Storage filled with `value`.
    convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    /// A copy of `other`.
    convenience init(copying other: TensorStorage) {
        self.init(uninitializedCount: other.count)
        pointer.update(from: other.pointer, count: count)
    }

    deinit { BufferPool.shared.recycle(pointer, capacity: capacity) }
}

/// A process-wide free list of float buffers keyed by capacity (rounded up to a power of two
/// above 64 KiB), bounded in total size. It is the engine's arena: steady-state inference and
/// training steps allocate nothing from the system after the first pass.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    /// Bytes the pool may hold while idle; beyond this, freed buffers go back to the system.
    public var retainedByteLimit = 1 << 30

    private let lock = NSLock()
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var retainedBytes = 0
    private var scratchCapacities: [UInt: Int] = [:]

    private static func roundedCapacity(_ count: Int) -> Int {
        let minimum = max(count, 1)
        guard minimum > 16_384 else { return minimum }
        return 1 << (Int.bitWidth - (minimum - 1).leadingZeroBitCount)
    }

    /// `BRAINSEG_POOL_TRACE` set: every `take` ("T <address> <floats asked>") and `recycle`
    /// ("R <address> <capacity>") is written to standard error, one line each, for replaying
    /// the allocation sequence under other pool policies (`Benchmarks/pool-policy-replay.py`).
    private static let traceEnabled = ProcessInfo.processInfo.environment["BRAINSEG_POOL_TRACE"] != nil

    private static func trace(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let taken = takeBuffer(count)
        if Self.traceEnabled { Self.trace("T \(UInt(bitPattern: taken.0)) \(count)") }
        return taken
    }

    private func takeBuffer(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let capacity = Self.roundedCapacity(count)
        lock.lock()
        if var list = free[capacity], let pointer = list.popLast() {
            free[capacity] = list
            retainedBytes -= capacity * 4
            lock.unlock()
            return (pointer, capacity)
        }
        lock.unlock()
        return (UnsafeMutablePointer<Float>.allocate(capacity: capacity), capacity)
    }

    func recycle(_ pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        if Self.traceEnabled { Self.trace("R \(UInt(bitPattern: pointer)) \(capacity)") }
        lock.lock()
        if capacity >= 4096, retainedBytes + capacity * 4 <= retainedByteLimit {
            free[capacity, default: []].append(pointer)
            retainedBytes += capacity * 4
            lock.unlock()
            return
        }
        lock.unlock()
        pointer.deallocate()
    }

    /// Kernel scratch memory from the pool (uninitialised); give it back with `release`.
    /// Convolutions use this for their tiles, so a steady-state forward pass allocates nothing.
    public func scratch(_ count: Int) -> UnsafeMutablePointer<Float> {
        let (pointer, capacity) = take(count)
        lock.lock()
        scratchCapacities[UInt(bitPattern: pointer)] = capacity
        lock.unlock()
        return pointer
    }

    /// Returns memory obtained from `scratch`.
    public func release(_ pointer: UnsafeMutablePointer<Float>) {
        lock.lock()
        let capacity = scratchCapacities.removeValue(forKey: UInt(bitPattern: pointer))
        lock.unlock()
        guard let capacity else { preconditionFailure("release of memory that did not come from scratch()") }
        recycle(pointer, capacity: capacity)
    }

    /// Returns every idle buffer to the system (e.g. after a case, before idling).
    public func drain() {
        lock.lock()
        let lists = free
        free = [:]
        retainedBytes = 0
        lock.unlock()
        for list in lists.values { list.forEach { $0.deallocate() } }
    }

    /// Bytes currently held idle.
    public var idleBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return retainedBytes
    }
}
