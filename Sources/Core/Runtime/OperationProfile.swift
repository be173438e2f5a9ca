import Dispatch

/// Where a forward pass or a training step spends its time, per operation: the per-layer
/// breakdown `brainseg bench model --profile` prints (conv forward, conv backward-data and
/// backward-weights, norms, activations, resampling, losses, the optimiser…).
///
/// - Forward: every op ends in `ForwardContext.record`, which marks the time since the previous
///   mark as that op's forward (so an op's own work, however it is computed, is counted once).
/// - Backward: each recorded closure is timed under "<op> backward"; sections inside it timed
///   with `measure` (the convolution's data and weight gradients) are taken out of the enclosing
///   entry, so nothing is counted twice.
/// - Anything else the caller wants to see (loss, optimiser step) goes through `measure`.
/// What no entry covers (the tape's gradient sums, bookkeeping) is the difference between the
/// step's wall time and the sum of the entries.
///
/// Process-global and off by default (one flag test per op when off); meant for single-threaded
/// benchmark drivers like `ConvolutionCounter`, not for concurrent passes.
public enum OperationProfile {
    /// One operation's total.
    public struct Entry: Sendable {
        public let operation: String
        public let seconds: Double
        public let calls: Int
    }

    nonisolated(unsafe) public private(set) static var isRecording = false
    nonisolated(unsafe) private static var totals: [String: (seconds: Double, calls: Int)] = [:]
    nonisolated(unsafe) private static var lastMark: UInt64 = 0
    /// Time spent in nested `measure` sections, per open section.
    nonisolated(unsafe) private static var nested: [UInt64] = []

    /// Clears the totals and starts recording.
    public static func start() {
        totals = [:]
        nested = []
        isRecording = true
        lastMark = now
    }

    /// Stops recording and returns the totals, largest first.
    public static func stop() -> [Entry] {
        isRecording = false
        return totals.map { Entry(operation: $0.key, seconds: $0.value.seconds, calls: $0.value.calls) }
            .sorted { $0.seconds > $1.seconds }
    }

    /// Times `body` under `operation` (minus any section nested inside it).
    @discardableResult
    public static func measure<R>(_ operation: String, _ body: () throws -> R) rethrows -> R {
        guard isRecording else { return try body() }
        nested.append(0)
        let start = now
        defer {
            let elapsed = now - start
            let inner = nested.removeLast()
            add(operation, nanoseconds: elapsed - min(inner, elapsed))
            if !nested.isEmpty { nested[nested.count - 1] += elapsed }
            lastMark = now
        }
        return try body()
    }

    /// Called by `ForwardContext.record` when `operation`'s forward result is ready.
    @inline(__always)
    static func markForward(_ operation: StaticString) {
        guard isRecording else { return }
        let time = now
        add("\(name(operation)) forward", nanoseconds: time - lastMark)
        lastMark = time
    }

    /// `backward`, timed under "<operation> backward" while recording.
    static func timed(_ operation: StaticString, _ backward: @escaping (Tensor) -> [Tensor?]) -> (Tensor) -> [Tensor?] {
        guard isRecording else { return backward }
        let label = "\(name(operation)) backward"
        return { gradient in measure(label) { backward(gradient) } }
    }

    private static func add(_ operation: String, nanoseconds: UInt64) {
        totals[operation, default: (0, 0)].seconds += Double(nanoseconds) / 1e9
        totals[operation, default: (0, 0)].calls += 1
    }

    /// "conv3d(_:weight:bias:stride:padding:groups:)" → "conv3d".
    private static func name(_ function: StaticString) -> String {
        let text = "\(function)"
        return text.firstIndex(of: "(").map { String(text[..<$0]) } ?? text
    }

    private static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }
}
