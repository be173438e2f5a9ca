import Core

/// Which training case a step draws its patch from.
///
/// Contract: without weights every case is equally likely, drawn exactly as runs before weights
/// existed (`next() % count`), so their folders resume bit for bit. With weights, case i is drawn
/// with probability weights[i] / sum(weights); a case of weight 0 is never drawn. Weights must be
/// one per case, finite, non-negative, with a positive sum.
struct CaseSampler: Sendable {
    private let count: Int
    /// Running sums of the weights, the last one their total; nil: uniform.
    private let cumulative: [Double]?
    /// The last case of positive weight: the draw when rounding puts the point on the total.
    private let lastDrawable: Int

    init(count: Int, weights: [Float]?) throws {
        guard count > 0 else { throw TrainingError("no training cases") }
        self.count = count
        guard let weights else { cumulative = nil; lastDrawable = count - 1; return }
        guard weights.count == count else {
            throw TrainingError("\(weights.count) case weight(s) for \(count) training case(s)")
        }
        guard weights.allSatisfy({ $0.isFinite && $0 >= 0 }), weights.contains(where: { $0 > 0 }) else {
            throw TrainingError("case weights must be finite, non-negative and not all zero: \(weights)")
        }
        var total = 0.0
        cumulative = weights.map { total += Double($0); return total }
        lastDrawable = weights.lastIndex { $0 > 0 }!
    }

    /// One draw: consumes exactly one value of `random`.
    func draw(_ random: inout SeededRandom) -> Int {
        guard let cumulative else { return Int(random.next() % UInt64(count)) }
        let point = Double(random.next() >> 11) * 0x1p-53 * cumulative[count - 1]   // uniform in [0, total)
        // The first case whose running sum exceeds the point; zero-weight cases add nothing, so
        // they are never the first to exceed it.
        return cumulative.firstIndex { point < $0 } ?? lastDrawable
    }
}
