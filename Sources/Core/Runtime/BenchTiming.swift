/// Times a piece of work the way every `brainseg bench` command reports it: `warmup` untimed
/// runs, then `reps` timed ones; median, minimum and maximum seconds.
public struct BenchTiming: Sendable {
    public var median: Double
    public var minimum: Double
    public var maximum: Double

    public static func measure(reps: Int, warmup: Int, _ work: () -> Void) -> BenchTiming {
        for _ in 0..<warmup { work() }
        let clock = ContinuousClock()
        var seconds = (0..<reps).map { _ -> Double in
            let elapsed = clock.measure { work() }
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        }
        seconds.sort()
        let median = seconds.count % 2 == 1 ? seconds[seconds.count / 2] : (seconds[seconds.count / 2 - 1] + seconds[seconds.count / 2]) / 2
        return BenchTiming(median: median, minimum: seconds.first!, maximum: seconds.last!)
    }
}
