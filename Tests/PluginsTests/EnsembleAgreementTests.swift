import Core
import Plugins
import Testing

@Suite("Ensemble agreement")
struct EnsembleAgreementTests {
    /// Region probabilities 1×3×D×H×W on a `size`³ grid, from per-channel lists of (flat index, probability).
    static func probabilities(size: Int = 5, _ channels: [[(Int, Float)]]) -> Tensor {
        let voxels = size * size * size
        var values = [Float](repeating: 0, count: 3 * voxels)
        for (channel, entries) in channels.enumerated() {
            for (index, p) in entries { values[channel * voxels + index] = p }
        }
        return Tensor(shape: [1, 3, size, size, size], values: values)
    }

    @Test func identicalMembersAgreePerfectly() {
        let map = Self.probabilities([[(0, 0.9), (1, 0.8), (62, 0.7)], [(1, 0.9)], []])
        let agreement = EnsembleAgreement.measure(members: [("a", map), ("b", map), ("c", map)], ensemble: map)
        #expect(agreement.pairs.count == 3)
        #expect(agreement.pairs.allSatisfy { $0.dice == .init(wholeTumour: 1, tumourCore: 1, enhancingTumour: 1) })
        #expect(agreement.meanPairwiseDice == .init(wholeTumour: 1, tumourCore: 1, enhancingTumour: 1))
        for member in agreement.members {
            #expect(member.diceWithEnsemble.mean == 1)
            #expect(member.meanDiceWithOthers?.mean == 1)
            #expect(member.voxels == ["WT": 3, "TC": 1, "ET": 0])
        }
    }

    @Test func disjointMembersDoNotAgree() {
        let first = Self.probabilities([[(0, 1), (1, 1)], [(0, 1)], []])
        let second = Self.probabilities([[(100, 1), (101, 1)], [(100, 1)], []])
        let ensemble = Self.probabilities([[(0, 0.5), (1, 0.5), (100, 0.5), (101, 0.5)], [(0, 0.5), (100, 0.5)], []])
        let agreement = EnsembleAgreement.measure(members: [("first", first), ("second", second)], ensemble: ensemble)
        let pair = agreement.pairs[0]
        #expect(pair.first == "first" && pair.second == "second")
        #expect(pair.dice.wholeTumour == 0 && pair.dice.tumourCore == 0)
        #expect(pair.dice.enhancingTumour == 1, "both without enhancing tumour: agreement")
        // 0.5 is not above the threshold: the ensemble's masks are empty.
        #expect(agreement.members[0].diceWithEnsemble.wholeTumour == 0)
        // Every zone voxel has p ∈ {0, 0.5}: WT entropy = 4 voxels × 1 bit / zone size.
        #expect(agreement.uncertaintyZoneVoxels > 0)
        #expect(abs(agreement.meanEntropy.wholeTumour - 4 / Double(agreement.uncertaintyZoneVoxels)) < 1e-9)
        #expect(agreement.meanEntropy.enhancingTumour == 0)
    }

    @Test("the pool's teacher agreement leaves the student out when two teachers are members, else keeps every member")
    func teacherAgreementLeavesTheStudentOut() {
        let tumour = Self.probabilities([[(0, 0.9), (1, 0.9)], [(0, 0.9)], []])
        let elsewhere = Self.probabilities([[(100, 0.9), (101, 0.9)], [(100, 0.9)], []])
        func member(_ name: String, _ map: Tensor) -> MemberPrediction { MemberPrediction(model: name, regionProbabilities: map, seconds: 0) }
        // Two teachers agree; the student disagrees with both.
        let members = [member("unet", tumour), member("cascade", tumour), member(ModelRegistry.studentName, elsewhere)]
        let teachers = EnsembleAgreement.teachers(members: members, ensemble: tumour)
        #expect(teachers.members.map(\.model) == ["unet", "cascade"])
        #expect(teachers.meanPairwiseDice?.wholeTumour == 1)
        let everyone = EnsembleAgreement.measure(members: members, ensemble: tumour)
        #expect(abs(everyone.meanPairwiseDice!.wholeTumour - 1.0 / 3) < 1e-12, "two of the three pairs disagree")
        // One teacher and the student: nothing to leave out.
        let pair = EnsembleAgreement.teachers(members: [member("unet", tumour), member(ModelRegistry.studentName, elsewhere)], ensemble: tumour)
        #expect(pair.members.count == 2 && pair.meanPairwiseDice?.wholeTumour == 0)
    }

    @Test func partialOverlap() {
        let first = Self.probabilities([[(0, 0.9), (1, 0.9), (2, 0.9), (3, 0.9)], [], []])
        let second = Self.probabilities([[(2, 0.6), (3, 0.6)], [], []])
        let agreement = EnsembleAgreement.measure(members: [("first", first), ("second", second)], ensemble: first)
        #expect(abs(agreement.pairs[0].dice.wholeTumour - 2.0 * 2 / 6) < 1e-12)
        #expect(agreement.members[0].diceWithEnsemble.wholeTumour == 1)
        #expect(abs(agreement.members[1].meanDiceWithOthers!.wholeTumour - 2.0 / 3) < 1e-12)
    }

    @Test func entropyAndTheDilatedZone() {
        // One certain voxel in the middle of 5³, dilated by 1: a 3³ zone, entropy 0.
        let centre = 2 + 5 * (2 + 5 * 2)
        let certain = Self.probabilities([[(centre, 1)], [], []])
        var agreement = EnsembleAgreement.measure(members: [("a", certain)], ensemble: certain, dilationVoxels: 1)
        #expect(agreement.uncertaintyZoneVoxels == 27)
        #expect(agreement.meanEntropy == .init(wholeTumour: 0, tumourCore: 0, enhancingTumour: 0))
        #expect(agreement.pairs.isEmpty && agreement.meanPairwiseDice == nil && agreement.members[0].meanDiceWithOthers == nil)
        // A corner voxel dilated by 1: 2³; dilated by 2: 3³.
        agreement = EnsembleAgreement.measure(members: [("a", Self.probabilities([[(0, 1)], [], []]))],
                                              ensemble: Self.probabilities([[(0, 1)], [], []]), dilationVoxels: 2)
        #expect(agreement.uncertaintyZoneVoxels == 27)
        // Maximal uncertainty everywhere in the zone: 1 bit. p = 0.9 gives H = 0.469 bits.
        let halves = Self.probabilities([[(centre, 0.5)], [(centre, 0.5)], [(centre, 0.9)]])
        let voter = Self.probabilities([[(centre, 1)], [], []])
        agreement = EnsembleAgreement.measure(members: [("voter", voter)], ensemble: halves, dilationVoxels: 0)
        #expect(agreement.uncertaintyZoneVoxels == 1, "a member's tumour counts even when the ensemble's is empty")
        #expect(agreement.meanEntropy.wholeTumour == 1 && agreement.meanEntropy.tumourCore == 1)
        #expect(abs(agreement.meanEntropy.enhancingTumour - 0.4689955935892812) < 1e-6)
    }

    @Test func nobodySeesATumour() {
        let empty = Self.probabilities([[], [], []])
        let agreement = EnsembleAgreement.measure(members: [("a", empty), ("b", empty)], ensemble: empty)
        #expect(agreement.meanPairwiseDice?.mean == 1)
        #expect(agreement.uncertaintyZoneVoxels == 0 && agreement.meanEntropy.mean == 0)
    }
}
