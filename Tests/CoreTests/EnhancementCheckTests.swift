import Core
import Testing

@Suite("Enhancing tumour must enhance (EnhancementCheck)")
struct EnhancementCheckTests {
    /// 20 healthy voxels (T1 100, T1ce 200: medians 100 and 200), one background voxel (T1 0),
    /// then the voxels under test.
    static func volume(_ tumour: [(label: UInt8, t1: Float, t1ce: Float)]) -> (labels: [UInt8], t1: [Float], t1ce: [Float]) {
        var labels = [UInt8](repeating: 0, count: 20) + [0]
        var t1 = [Float](repeating: 100, count: 20) + [0]
        var t1ce = [Float](repeating: 200, count: 20) + [500]
        for voxel in tumour {
            labels.append(voxel.label)
            t1.append(voxel.t1)
            t1ce.append(voxel.t1ce)
        }
        return (labels, t1, t1ce)
    }

    @Test("ET that is not brighter on T1ce than on T1, each against the healthy brain, becomes core")
    func relabelsNonEnhancing() {
        // Enhancement t1ce/200 − t1/100: 300,100 → +0.5 kept; 200,100 → 0 relabelled (not > 0);
        // 180,80 → +0.1 kept; 150,100 → −0.25 relabelled.
        var (labels, t1, t1ce) = Self.volume([(4, 100, 300), (4, 100, 200), (4, 80, 180), (4, 100, 150)])
        let outcome = EnhancementCheck.relabelNonEnhancing(&labels, t1: t1, t1ce: t1ce, enhancingLabel: 4, minimumEnhancingVoxels: 0)
        #expect(Array(labels.suffix(4)) == [4, 1, 4, 1])
        #expect(outcome.relabelled == 2 && outcome.relabelledAsTooFew == 0 && outcome.applied)
        #expect(labels.prefix(21).allSatisfy { $0 == 0 })
    }

    @Test("labels other than ET are never changed, and the BraTS 2023 ET label is honoured")
    func otherLabelsUntouched() {
        var (labels, t1, t1ce) = Self.volume([(2, 100, 50), (1, 100, 50), (3, 100, 50), (3, 100, 400)])
        EnhancementCheck.relabelNonEnhancing(&labels, t1: t1, t1ce: t1ce, enhancingLabel: 3, minimumEnhancingVoxels: 0)
        #expect(Array(labels.suffix(4)) == [2, 1, 1, 3])
    }

    @Test("when too few ET voxels are left, all of them become core")
    func tooFewLeft() {
        var (labels, t1, t1ce) = Self.volume([(4, 100, 400), (4, 100, 400), (4, 100, 100)])
        let outcome = EnhancementCheck.relabelNonEnhancing(&labels, t1: t1, t1ce: t1ce, enhancingLabel: 4, minimumEnhancingVoxels: 2)
        #expect(Array(labels.suffix(3)) == [1, 1, 1])
        #expect(outcome.relabelled == 1 && outcome.relabelledAsTooFew == 2 && outcome.applied)
    }

    @Test("the result does not depend on each image's intensity scale")
    func scaleInvariant() {
        var random = SeededRandom(seed: 11)
        var labels: [UInt8] = [], t1: [Float] = [], t1ce: [Float] = []
        for index in 0..<2000 {
            labels.append(index < 1000 ? 0 : (index % 3 == 0 ? 2 : 4))
            t1.append(50 + 100 * random.nextUniform())
            t1ce.append(50 + 100 * random.nextUniform())
        }
        var plain = labels, scaled = labels
        EnhancementCheck.relabelNonEnhancing(&plain, t1: t1, t1ce: t1ce, enhancingLabel: 4, minimumEnhancingVoxels: 32)
        EnhancementCheck.relabelNonEnhancing(&scaled, t1: t1.map { $0 * 8 }, t1ce: t1ce.map { $0 * 0.25 }, enhancingLabel: 4,
                                             minimumEnhancingVoxels: 32)
        #expect(plain == scaled)
        #expect(plain.filter { $0 == 1 }.count > 100 && plain.filter { $0 == 4 }.count > 100)
    }

    @Test("without a healthy brain or with a median that is not positive, nothing changes")
    func notApplicable() {
        var allTumour: [UInt8] = [4, 4, 4]
        let none = EnhancementCheck.relabelNonEnhancing(&allTumour, t1: [1, 1, 1], t1ce: [0, 0, 0], enhancingLabel: 4, minimumEnhancingVoxels: 0)
        #expect(allTumour == [4, 4, 4] && !none.applied)
        var (labels, t1, _) = Self.volume([(4, 100, 0)])
        let zeroT1ce = [Float](repeating: 0, count: labels.count)
        let skipped = EnhancementCheck.relabelNonEnhancing(&labels, t1: t1, t1ce: zeroT1ce, enhancingLabel: 4, minimumEnhancingVoxels: 0)
        #expect(labels.last == 4 && !skipped.applied)
    }

    @Test("on by default in the label settings")
    func onByDefault() {
        #expect(LabelMapBuilder.Settings().requireEnhancement)
    }
}
