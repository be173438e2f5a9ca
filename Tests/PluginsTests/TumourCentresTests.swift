import Core
@testable import Plugins
import Testing

/// Patch centres: the paper's uniform choice of a tumour voxel, unchanged in values and random
/// use, and the class-balanced choice that centres on small classes as often as on edema.
@Suite("Tumour centres")
struct TumourCentresTests {
    /// 1000 edema voxels, 10 core and 10 enhancing, then background.
    static let labels: [UInt8] = [UInt8](repeating: 2, count: 1000) + [UInt8](repeating: 1, count: 10)
        + [UInt8](repeating: 4, count: 10) + [UInt8](repeating: 0, count: 500)

    @Test("uniform: one draw per pick, the same voxel the paper's sampling took")
    func uniformIsTheOldSampling() {
        let centres = TumourCentres(labels: Self.labels, classBalanced: false)
        let tumour = Self.labels.indices.filter { Self.labels[$0] != 0 }
        var random = SeededRandom(seed: 5), reference = SeededRandom(seed: 5)
        for _ in 0..<200 {
            #expect(centres.pick(&random) == tumour[Int(reference.next() % UInt64(tumour.count))])
        }
        #expect(random.next() == reference.next())
        #expect(TumourCentres(labels: [0, 0, 0], classBalanced: false).isEmpty)
        #expect(TumourCentres(labels: [0, 0, 0], classBalanced: true).isEmpty)
    }

    @Test("class-balanced: each class present is picked about a third of the time, whatever its size")
    func classBalanced() {
        let centres = TumourCentres(labels: Self.labels, classBalanced: true)
        var random = SeededRandom(seed: 8)
        var counts: [UInt8: Int] = [:]
        let picks = 6000
        for _ in 0..<picks { counts[Self.labels[centres.pick(&random)], default: 0] += 1 }
        #expect(counts[0] == nil, "a background voxel was picked")
        for label: UInt8 in [1, 2, 4] {
            let share = Double(counts[label] ?? 0) / Double(picks)
            #expect(abs(share - 1.0 / 3) < 0.03, "class \(label): \(share)")
        }
    }
}
