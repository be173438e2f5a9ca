import Core
import Foundation

/// How much the members of an ensemble agree on a case, for the case report and the
/// confidence score (SPEC.md §3.7): overlap between members, overlap of each member with the
/// ensemble, and the uncertainty of the averaged probabilities.
///
/// Inputs are region probabilities [WT, TC, ET] (1×3×nz×ny×nx over the brain crop, as in
/// `CaseSegmentation`). Definitions:
/// - a region is binarised as probability > `threshold` (0.5), as `LabelMapBuilder` does; the
///   ensemble's masks are taken from its averaged probabilities *before* post-processing;
/// - Dice = 2|A∩B| / (|A| + |B|), and 1 when both masks are empty (agreeing that there is no
///   such region is agreement);
/// - entropy is the binary entropy in bits, H(p) = −p log₂ p − (1 − p) log₂(1 − p) (0 for
///   certain, 1 for p = 0.5), of the ensemble's probability of each region, averaged over the
///   *uncertainty zone*: voxels that the ensemble or any member calls whole tumour, dilated by
///   `dilationVoxels` in every direction (a (2d+1)³ cube). With an empty zone (nobody sees a
///   tumour) the entropies are 0.
///
/// Members may include models outside the ensemble's average (the student run alongside): the
/// caller decides whom to pass. Shapes must match (a programming error otherwise: precondition).
public struct EnsembleAgreement: Sendable, Codable, Equatable {
    /// One number per region (JSON keys `WT`, `TC`, `ET`).
    /// One score per region.
    public typealias RegionScores = RegionValues<Double>

    /// One member's agreement.
    public struct Member: Sendable, Codable, Equatable {
        public var model: String
        /// Dice of this member's masks with the ensemble's.
        public var diceWithEnsemble: RegionScores
        /// Mean Dice with each other member (nil when it is the only member).
        public var meanDiceWithOthers: RegionScores?
        /// Voxels of each binarised region.
        public var voxels: [String: Int]
    }

    /// Dice between two members.
    public struct Pair: Sendable, Codable, Equatable {
        public var first: String
        public var second: String
        public var dice: RegionScores
    }

    public var members: [Member]
    /// Every unordered pair of members, in member order.
    public var pairs: [Pair]
    /// Mean Dice over all pairs (nil with fewer than two members): the ensemble's agreement.
    public var meanPairwiseDice: RegionScores?
    /// Mean binary entropy (bits) of the ensemble's probabilities over the uncertainty zone.
    public var meanEntropy: RegionScores
    /// Voxels in the uncertainty zone.
    public var uncertaintyZoneVoxels: Int
    /// The settings used.
    public var threshold: Double
    public var dilationVoxels: Int

    /// Measures agreement for `members` and their `ensemble`.
    public static func measure(members: [MemberPrediction], ensemble: Tensor, threshold: Float = 0.5, dilationVoxels: Int = 2) -> EnsembleAgreement {
        measure(members: members.map { (model: $0.model, regionProbabilities: $0.regionProbabilities) }, ensemble: ensemble,
                threshold: threshold, dilationVoxels: dilationVoxels)
    }

    /// Measures agreement for named members' region probabilities and the `ensemble`'s
    /// (all 1×3×D×H×W, or 3×D×H×W, with the same sizes).
    public static func measure(members: [(model: String, regionProbabilities: Tensor)], ensemble: Tensor,
                               threshold: Float = 0.5, dilationVoxels: Int = 2) -> EnsembleAgreement {
        precondition(ensemble.count % 3 == 0 && ensemble.shape.count >= 4, "ensemble probabilities must be [1×]3×D×H×W, got \(ensemble.shape)")
        precondition(dilationVoxels >= 0)
        let spatialShape = Array(ensemble.shape.suffix(3))  // D, H, W
        for member in members {
            precondition(member.regionProbabilities.count == ensemble.count,
                         "\(member.model): probabilities \(member.regionProbabilities.shape) do not match the ensemble's \(ensemble.shape)")
        }
        let ensembleMasks = binarise(ensemble, threshold: threshold)
        let memberMasks = members.map { binarise($0.regionProbabilities, threshold: threshold) }

        var pairs: [Pair] = []
        var sumsWithOthers = [[Double]](repeating: [0, 0, 0], count: members.count)
        for first in members.indices {
            for second in members.indices where second > first {
                let dice = (0..<3).map { diceCoefficient(memberMasks[first][$0], memberMasks[second][$0]) }
                pairs.append(Pair(first: members[first].model, second: members[second].model, dice: RegionScores(dice)))
                for channel in 0..<3 {
                    sumsWithOthers[first][channel] += dice[channel]
                    sumsWithOthers[second][channel] += dice[channel]
                }
            }
        }
        let memberResults = members.indices.map { index in
            Member(model: members[index].model,
                   diceWithEnsemble: RegionScores((0..<3).map { diceCoefficient(memberMasks[index][$0], ensembleMasks[$0]) }),
                   meanDiceWithOthers: members.count > 1 ? RegionScores(sumsWithOthers[index].map { $0 / Double(members.count - 1) }) : nil,
                   voxels: Dictionary(uniqueKeysWithValues: BratsRegion.allCases.map { ($0.rawValue, count(memberMasks[index][$0.channel])) }))
        }
        let meanPairwise = pairs.isEmpty ? nil : RegionScores((0..<3).map { channel in
            pairs.map { $0.dice[BratsRegion.allCases[channel]] }.reduce(0, +) / Double(pairs.count)
        })

        var zone = ensembleMasks[0]
        for masks in memberMasks { unite(&zone, masks[0]) }
        zone = dilate(zone, depth: spatialShape[0], height: spatialShape[1], width: spatialShape[2], radius: dilationVoxels)
        let (entropies, zoneVoxels) = meanBinaryEntropy(ensemble, inside: zone)
        return EnsembleAgreement(members: memberResults, pairs: pairs, meanPairwiseDice: meanPairwise,
                                 meanEntropy: RegionScores(entropies), uncertaintyZoneVoxels: zoneVoxels,
                                 threshold: Double(threshold), dilationVoxels: dilationVoxels)
    }

}

extension EnsembleAgreement {
    /// Agreement of a segmented case's members and ensemble.
    public init(_ segmentation: CaseSegmentation, threshold: Float = 0.5, dilationVoxels: Int = 2) {
        self = Self.measure(members: segmentation.members, ensemble: segmentation.ensembleProbabilities,
                            threshold: threshold, dilationVoxels: dilationVoxels)
    }

    /// The teachers' agreement on a segmented case, which the distillation pool's confidence
    /// checks were calibrated on (models/README.md, "Pool admission thresholds"): the members
    /// other than the student when at least two of them are teachers, else every member (an
    /// ensemble such as unet + student has no two teachers to compare). Entropy is always that
    /// of the whole ensemble's probabilities, the pseudo-label the pool keeps.
    public static func teachers(of segmentation: CaseSegmentation, threshold: Float = 0.5, dilationVoxels: Int = 2) -> EnsembleAgreement {
        teachers(members: segmentation.members, ensemble: segmentation.ensembleProbabilities, threshold: threshold,
                 dilationVoxels: dilationVoxels)
    }

    /// `teachers(of:)` on explicit members and ensemble probabilities.
    public static func teachers(members: [MemberPrediction], ensemble: Tensor, threshold: Float = 0.5,
                                dilationVoxels: Int = 2) -> EnsembleAgreement {
        let teachers = members.filter { $0.model != ModelRegistry.studentName }
        return measure(members: teachers.count >= 2 ? teachers : members, ensemble: ensemble, threshold: threshold,
                       dilationVoxels: dilationVoxels)
    }

    // MARK: - Kernels

    /// Three 0/1 masks (WT, TC, ET) of probability > threshold.
    static func binarise(_ probabilities: Tensor, threshold: Float) -> [[UInt8]] {
        let voxels = probabilities.count / 3
        return (0..<3).map { channel in
            var mask = [UInt8](repeating: 0, count: voxels)
            probabilities.withUnsafeBufferPointer { values in
                mask.withUnsafeMutableBufferPointer { target in
                    let source = values.baseAddress! + channel * voxels
                    for index in 0..<voxels { target[index] = source[index] > threshold ? 1 : 0 }
                }
            }
            return mask
        }
    }

    /// Dice of two 0/1 masks; 1 when both are empty.
    static func diceCoefficient(_ first: [UInt8], _ second: [UInt8]) -> Double {
        var sizes = 0, both = 0
        first.withUnsafeBufferPointer { a in
            second.withUnsafeBufferPointer { b in
                for index in 0..<a.count {
                    sizes += Int(a[index]) + Int(b[index])
                    both += Int(a[index] & b[index])
                }
            }
        }
        return sizes == 0 ? 1 : 2 * Double(both) / Double(sizes)
    }

    static func count(_ mask: [UInt8]) -> Int {
        mask.withUnsafeBufferPointer { values in values.reduce(0) { $0 + Int($1) } }
    }

    static func unite(_ target: inout [UInt8], _ other: [UInt8]) {
        target.withUnsafeMutableBufferPointer { t in
            other.withUnsafeBufferPointer { o in
                for index in 0..<t.count { t[index] |= o[index] }
            }
        }
    }

    /// Dilation by a (2r+1)³ cube, as three separable 1D passes (x, y, z).
    static func dilate(_ mask: [UInt8], depth: Int, height: Int, width: Int, radius: Int) -> [UInt8] {
        guard radius > 0 else { return mask }
        var current = mask
        for (stride, length) in [(1, width), (width, height), (width * height, depth)] {
            var next = [UInt8](repeating: 0, count: current.count)
            current.withUnsafeBufferPointer { source in
                next.withUnsafeMutableBufferPointer { target in
                    for index in 0..<source.count where source[index] != 0 {
                        let position = (index / stride) % length
                        let low = max(0, position - radius), high = min(length - 1, position + radius)
                        for neighbour in low...high { target[index + (neighbour - position) * stride] = 1 }
                    }
                }
            }
            current = next
        }
        return current
    }

    /// Mean binary entropy (bits) per region channel over the zone, and the zone's voxel count.
    static func meanBinaryEntropy(_ probabilities: Tensor, inside zone: [UInt8]) -> ([Double], Int) {
        let voxels = zone.count
        let zoneVoxels = count(zone)
        guard zoneVoxels > 0 else { return ([0, 0, 0], 0) }
        var sums = [0.0, 0.0, 0.0]
        probabilities.withUnsafeBufferPointer { values in
            zone.withUnsafeBufferPointer { inside in
                for channel in 0..<3 {
                    let source = values.baseAddress! + channel * voxels
                    var sum = 0.0
                    for index in 0..<voxels where inside[index] != 0 {
                        let p = Double(min(max(source[index], 0), 1))
                        if p > 0 && p < 1 { sum -= p * log2(p) + (1 - p) * log2(1 - p) }
                    }
                    sums[channel] = sum
                }
            }
        }
        return (sums.map { $0 / Double(zoneVoxels) }, zoneVoxels)
    }
}
