import Core
import Foundation
import Testing
import TestSupport

/// The Core lesion matcher against the official BraTS evaluator (fixtures by
/// Fixtures/lesion/make_lesion_fixtures.sh), plus the assignment solver and lesion labelling.
@Suite("Lesion-wise evaluation")
struct LesionWiseEvaluationTests {
    static let expected: LesionFixtures.Expected = (try? LesionFixtures.expected("expected_synthetic.json")) ?? [:]
    static let pairs: [String] = expected.keys.sorted()

    @Test("every synthetic pair matches the BraTS evaluator per region", arguments: pairs)
    func matchesEvaluator(_ pair: String) throws {
        let wanted = try #require(Self.expected[pair])
        let prediction = try Volume.read(from: LesionFixtures.syntheticPath(pair, "pred"))
        let truth = try Volume.read(from: LesionFixtures.syntheticPath(pair, "truth"))
        let results = LesionWiseEvaluation.evaluate(
            prediction: prediction.voxels.map { UInt8($0) }, truth: truth.voxels.map { UInt8($0) },
            dims: prediction.dims, spacing: prediction.geometry.spacingInMillimetres)
        for region in BratsRegion.allCases {
            let actual = try #require(results[region])
            let reference = try #require(wanted[region.rawValue])
            for (name, value) in zip(LesionWiseMetrics.figureNames, actual.figures) {
                let expected = try #require(reference[name], "\(pair) \(region) lacks \(name)")
                let problem = LesionFixtures.mismatch(name, actual: value, wanted: expected.number)
                #expect(problem == nil, "\(pair) \(region.rawValue) \(problem ?? "")")
            }
        }
    }

    @Test("the fixture set covers the issue's edge cases")
    func coverage() {
        for name in ["empty_empty", "empty_prediction", "empty_truth", "tiny_lesion", "tiny_missed_and_spurious",
                     "two_lesions_one_missed", "touching_lesions", "spurious_lesion", "split_and_bridge", "disjoint", "anisotropic"] {
            #expect(Self.pairs.contains(name), "missing pair \(name)")
        }
    }

    @Test("lesions are 26-connected: voxels touching at a corner are one lesion")
    func cornerConnectivity() {
        let dims = [4, 4, 4]
        var mask = [UInt8](repeating: 0, count: 64)
        mask[0] = 1                       // (0, 0, 0)
        mask[1 + 4 * (1 + 4 * 1)] = 1     // (1, 1, 1): a corner neighbour
        mask[3 + 4 * (3 + 4 * 3)] = 1     // (3, 3, 3): apart
        let lesions = Lesions(mask: mask, dims: dims)
        #expect(lesions.count == 2)
        #expect(lesions.sizes == [2, 1])
        #expect(lesions.voxels[0] == [0, 21])
    }

    @Test("one tiny lesion counts: no minimum size")
    func singleVoxel() {
        var mask = [UInt8](repeating: 0, count: 27)
        mask[13] = 1
        let metrics = LesionWiseEvaluation.evaluate(predictedMask: mask, truthMask: mask, dims: [3, 3, 3], spacing: [1, 1, 1])
        #expect(metrics.truePositives == 1 && metrics.falsePositives == 0 && metrics.falseNegatives == 0)
        #expect(metrics.panopticQualityDice == 1 && metrics.segmentationQualityHausdorff95 == 0)
    }

    @Test("the assignment solver finds the cheapest assignment (brute force on random matrices)", arguments: 0..<40)
    func assignmentIsOptimal(_ seed: Int) {
        var generator = SeededRandom(seed: UInt64(seed))
        let rows = 1 + Int(generator.next() % 5), columns = 1 + Int(generator.next() % 5)
        let costs = (0..<(rows * columns)).map { _ in Double(generator.next() % 1000) / 1000 }
        let assignment = MinimumCostAssignment.solve(costs: costs, rows: rows, columns: columns)
        let columnsUsed = assignment.compactMap { $0 }
        #expect(columnsUsed.count == min(rows, columns))
        #expect(Set(columnsUsed).count == columnsUsed.count)
        let total = assignment.enumerated().reduce(0.0) { sum, entry in entry.element.map { sum + costs[entry.offset * columns + $0] } ?? sum }
        #expect(abs(total - Self.bruteForceMinimum(costs, rows: rows, columns: columns)) < 1e-12)
    }

    /// The cheapest total over every way to give min(rows, columns) rows distinct columns.
    static func bruteForceMinimum(_ costs: [Double], rows: Int, columns: Int) -> Double {
        func search(_ row: Int, _ used: Set<Int>, _ remaining: Int) -> Double {
            if remaining == 0 { return 0 }
            if rows - row < remaining { return .infinity }
            var best = search(row + 1, used, remaining)   // this row unassigned
            for column in 0..<columns where !used.contains(column) {
                best = min(best, costs[row * columns + column] + search(row + 1, used.union([column]), remaining - 1))
            }
            return best
        }
        return search(0, [], min(rows, columns))
    }

    @Test("summaries count an infinite HD95 as the evaluator's 373 mm and keep NaN out")
    func penalty() {
        #expect(LesionWiseEvaluation.summaryValue(.infinity) == 373)
        #expect(LesionWiseEvaluation.summaryValue(4.5) == 4.5)
        #expect(LesionWiseEvaluation.summaryValue(.nan).isNaN)
    }
}
