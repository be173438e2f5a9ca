import Foundation

/// A process-wide free list of float buffers keyed by capacity (rounded up to a power of two
/// above 64 KiB; a request may get an idle buffer of the next class), bounded in total size.
/// It is the engine's arena: steady-state inference and training steps allocate nothing from
/// the system after the first pass.
///
/// A step that repeats with the same tensors (`repeatingStep`, a training step) gets a planned
/// arena instead: its first repetition is recorded without growing the free list, and later
/// repetitions give each tensor the buffer `StepMemoryPlan` assigned to it, so a step holds
/// about its live peak rather than the free list's size classes.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    /// Bytes the pool may hold while idle; beyond this, freed buffers go back to the system.
    public var retainedByteLimit = 1 << 30

    private let lock = NSLock()
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var retainedBytes = 0
    private var scratchCapacities: [UInt: Int] = [:]

    /// A repetition of a repeating step in progress on one thread: its key, how many tensors
    /// of each size it has taken, and (first repetition) what it records.
    private struct ActiveStep {
        let key: String
        /// Tensors taken so far, by float count (a planned repetition's k-th tensor of a size).
        var taken: [Int: Int] = [:]
        var recording: Recording?
    }

    /// The first repetition's tensors: sizes and lifetimes on one timeline of takes and releases.
    private struct Recording {
        var requests: [StepMemoryPlan.Request] = []
        var time = 0
    }

    /// A plan's buffers: one per slot, allocated on first use, and whether a tensor holds it.
    private struct PlannedStep {
        let plan: StepMemoryPlan
        var buffers: [UnsafeMutablePointer<Float>?]
        var busy: [Bool]
    }

    /// Steps in progress, by the thread that runs them (tensors of other threads are not planned).
    private var activeSteps: [pthread_t: ActiveStep] = [:]
    /// Recorded tensors still alive, by address: whose recording they are in (the recording
    /// thread; a tensor may be freed on another) and their request there.
    private var recordedBuffers: [UInt: (thread: pthread_t, request: Int)] = [:]
    private var plannedSteps: [String: PlannedStep] = [:]
    private var slotOfBuffer: [UInt: (key: String, slot: Int)] = [:]

    /// Requests up to this many floats get buffers of exactly their size; larger ones are
    /// rounded up to a power of two.
    private static let exactSizeLimit = 16_384

    private static func roundedCapacity(_ count: Int) -> Int {
        let minimum = max(count, 1)
        guard minimum > exactSizeLimit else { return minimum }
        return 1 << (Int.bitWidth - (minimum - 1).leadingZeroBitCount)
    }

    /// `BRAINSEG_POOL_TRACE` set: every `take` ("T <address> <floats asked>") and `recycle`
    /// ("R <address> <capacity>") is written to standard error, one line each, for replaying
    /// the allocation sequence under other pool policies (`Benchmarks/pool-policy-replay.py`).
    private static let traceEnabled = ProcessInfo.processInfo.environment["BRAINSEG_POOL_TRACE"] != nil

    private static func trace(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Runs `body` as one repetition of the step `key`, whose tensors are the same, in the same
    /// order, every time (a training step on patches of one size). The first repetition is
    /// recorded: its tensors come from the free list or the system as usual, but go back to the
    /// system when freed, so it does not grow the free list. Later ones take their tensors from
    /// the plan's buffers. A tensor that differs from the recording (another size, or its buffer
    /// still held) takes the usual path, so a step that changes only costs memory. Kernel scratch
    /// taken on the step's thread is planned like a tensor; tensors and scratch of other threads
    /// (a prefetching loader, the kernels' other workers) and nested calls are not.
    public func repeatingStep<Result>(_ key: String, _ body: () throws -> Result) rethrows -> Result {
        let thread = pthread_self()
        lock.lock()
        let starts = activeSteps[thread] == nil
        if starts { activeSteps[thread] = ActiveStep(key: key, recording: plannedSteps[key] == nil ? Recording() : nil) }
        lock.unlock()
        guard starts else { return try body() }
        defer { finishStep(on: thread) }
        return try body()
    }

    /// Ends the thread's repetition; after a recorded one, plans the step.
    private func finishStep(on thread: pthread_t) {
        lock.lock()
        defer { lock.unlock() }
        guard let step = activeSteps.removeValue(forKey: thread), let recording = step.recording else { return }
        recordedBuffers = recordedBuffers.filter { $0.value.thread != thread }
        guard plannedSteps[step.key] == nil else { return }
        let plan = StepMemoryPlan(requests: recording.requests)
        plannedSteps[step.key] = PlannedStep(plan: plan, buffers: Array(repeating: nil, count: plan.slotCapacities.count),
                                             busy: Array(repeating: false, count: plan.slotCapacities.count))
    }

    /// A tensor's or kernel scratch's buffer: from the active step's plan where it applies, else
    /// as `take`.
    func takePlanned(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let thread = pthread_self()
        lock.lock()
        guard let step = activeSteps[thread] else {
            lock.unlock()
            return take(count)
        }
        if step.recording != nil {
            lock.unlock()
            let taken = take(count)
            let address = UInt(bitPattern: taken.0)
            lock.lock()
            if let time = activeSteps[thread]?.recording?.time, let request = activeSteps[thread]?.recording?.requests.count {
                activeSteps[thread]?.recording?.requests.append(StepMemoryPlan.Request(count: count, start: time, end: nil))
                activeSteps[thread]?.recording?.time = time + 1
                recordedBuffers[address] = (thread, request)
            }
            lock.unlock()
            return taken
        }
        let occurrence = step.taken[count, default: 0]
        activeSteps[thread]?.taken[count] = occurrence + 1
        guard let plan = plannedSteps[step.key]?.plan, let slots = plan.slotsByCount[count], occurrence < slots.count,
              let slot = slots[occurrence], plannedSteps[step.key]?.busy[slot] == false else {
            lock.unlock()
            return take(count)
        }
        let capacity = plan.slotCapacities[slot]
        let buffer = plannedSteps[step.key]?.buffers[slot] ?? UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        plannedSteps[step.key]?.buffers[slot] = buffer
        plannedSteps[step.key]?.busy[slot] = true
        slotOfBuffer[UInt(bitPattern: buffer)] = (step.key, slot)
        lock.unlock()
        if Self.traceEnabled { Self.trace("T \(UInt(bitPattern: buffer)) \(count)") }
        return (buffer, capacity)
    }

    private func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let taken = takeBuffer(count)
        if Self.traceEnabled { Self.trace("T \(UInt(bitPattern: taken.0)) \(count)") }
        return taken
    }

    /// An idle buffer of the request's size class, else one of the class above (at most twice
    /// the size), else a new one. Forward passes are not planned; taking the larger idle buffer
    /// lets one that the pass no longer needs serve a smaller tensor, where otherwise the system
    /// would fault in a new one. Replayed on the full-case forward traces, this holds 16–27 MB
    /// less tensor memory and faults in no more (`Benchmarks/pool-policy-replay.py`, "fit 2").
    private func takeBuffer(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let capacity = Self.roundedCapacity(count)
        lock.lock()
        let idle = popIdle(capacity) ?? (capacity > Self.exactSizeLimit ? popIdle(capacity * 2) : nil)
        lock.unlock()
        return idle ?? (UnsafeMutablePointer<Float>.allocate(capacity: capacity), capacity)
    }

    /// An idle buffer of exactly `capacity` floats off the free list, or nil. The caller holds `lock`.
    private func popIdle(_ capacity: Int) -> (UnsafeMutablePointer<Float>, Int)? {
        guard let pointer = free[capacity]?.popLast() else { return nil }
        retainedBytes -= capacity * 4
        return (pointer, capacity)
    }

    func recycle(_ pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        if Self.traceEnabled { Self.trace("R \(UInt(bitPattern: pointer)) \(capacity)") }
        let address = UInt(bitPattern: pointer)
        lock.lock()
        if let (key, slot) = slotOfBuffer.removeValue(forKey: address) {
            // A plan's buffer stays with its plan (freed by `drain`, or here if the plan is gone).
            if plannedSteps[key]?.buffers[slot] == pointer {
                plannedSteps[key]?.busy[slot] = false
                lock.unlock()
            } else {
                lock.unlock()
                pointer.deallocate()
            }
            return
        }
        if let (thread, request) = recordedBuffers.removeValue(forKey: address), activeSteps[thread]?.recording != nil {
            // Recorded, and back to the system: the first repetition must not grow the free list.
            let time = activeSteps[thread]?.recording?.time
            activeSteps[thread]?.recording?.requests[request].end = time
            activeSteps[thread]?.recording?.time += 1
            lock.unlock()
            pointer.deallocate()
            return
        }
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
        let (pointer, capacity) = takePlanned(count)
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

    /// Returns every idle buffer to the system (e.g. after a case, before idling), the idle
    /// buffers of step plans included; a plan whose buffers are all idle is forgotten (its step
    /// is recorded again next time).
    public func drain() {
        lock.lock()
        let lists = free
        free = [:]
        retainedBytes = 0
        var idlePlanned: [UnsafeMutablePointer<Float>] = []
        let activeKeys = Set(activeSteps.values.map(\.key))
        for (key, planned) in plannedSteps where !activeKeys.contains(key) {
            if planned.busy.contains(true) {
                var kept = planned
                for slot in kept.buffers.indices where !kept.busy[slot] {
                    if let buffer = kept.buffers[slot] { idlePlanned.append(buffer) }
                    kept.buffers[slot] = nil
                }
                plannedSteps[key] = kept
            } else {
                idlePlanned += planned.buffers.compactMap { $0 }
                plannedSteps[key] = nil
            }
        }
        lock.unlock()
        for list in lists.values { list.forEach { $0.deallocate() } }
        idlePlanned.forEach { $0.deallocate() }
    }

    /// Bytes currently held idle.
    public var idleBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return retainedBytes
    }
}
