import Core
import Foundation
import Testing
import TestSupport

/// Metrics against medpy (fixtures by make_metrics_fixtures.py) and against hand-made cases.
@Suite("Segmentation metrics")
struct SegmentationMetricsTests {
    struct Expected: Decodable {
        var spacing: [Double]
        var regions: [String: RegionMetrics]
    }

    static let expected: [String: Expected] = (try? Fixtures.json("metrics/expected.json", as: [String: Expected].self)) ?? [:]
    static let pairs: [String] = expected.keys.sorted()

    @Test("every pair matches medpy per region", arguments: pairs)
    func matchesMedpy(_ pair: String) throws {
        let reference = try #require(Self.expected[pair])
        let prediction = try Volume.read(from: Fixtures.path("metrics/\(pair)_pred.nii.gz"))
        let truth = try Volume.read(from: Fixtures.path("metrics/\(pair)_truth.nii.gz"))
        // NIfTI stores spacing as Float32; medpy used the exact values, hence the 1e-6 mm below.
        #expect(prediction.geometry.spacing == reference.spacing.map { Double(Float($0)) })
        let results = RegionEvaluation.evaluate(
            prediction: prediction.voxels.map { UInt8($0) }, truth: truth.voxels.map { UInt8($0) },
            dims: prediction.dims, spacing: prediction.geometry.spacingInMillimetres)
        for region in BratsRegion.allCases {
            let actual = try #require(results[region])
            let wanted = try #require(reference.regions[region.rawValue])
            #expect(actual.predictedVoxels == wanted.predictedVoxels, "\(pair) \(region)")
            #expect(actual.truthVoxels == wanted.truthVoxels, "\(pair) \(region)")
            #expect(abs(actual.dice - wanted.dice) < 1e-12, "\(pair) \(region) dice \(actual.dice) vs \(wanted.dice)")
            #expect(abs(actual.hausdorff95 - wanted.hausdorff95) < 1e-6, "\(pair) \(region) hd95 \(actual.hausdorff95) vs \(wanted.hausdorff95)")
            #expect(abs(actual.sensitivity - wanted.sensitivity) < 1e-12, "\(pair) \(region)")
            #expect(abs(actual.specificity - wanted.specificity) < 1e-12, "\(pair) \(region)")
        }
    }

    @Test("the fixture set covers the BraTS edge cases")
    func coverage() {
        for name in ["empty_empty", "empty_prediction", "empty_truth", "overlap_anisotropic", "border_touching"] {
            #expect(Self.pairs.contains(name))
        }
    }

    @Test("hand-checkable values: a shifted bar, identical masks, percentile interpolation")
    func handCases() {
        let dims = [10, 3, 3]
        var a = [UInt8](repeating: 0, count: 90)
        var b = a
        for x in 2..<6 { a[x + 10 * (1 + 3 * 1)] = 1 }   // voxels x = 2…5 on the centre line
        for x in 3..<7 { b[x + 10 * (1 + 3 * 1)] = 1 }   // shifted by one
        #expect(SegmentationMetrics.dice(a, b) == 0.75)
        #expect(SegmentationMetrics.dice(a, a) == 1)
        #expect(SegmentationMetrics.hausdorff95(a, a, dims: dims, spacing: [1, 1, 1]) == 0)
        // Directed distances are 1,0,0,0 each way → pooled [0×6, 1×2]; 95th percentile = 1.
        #expect(SegmentationMetrics.hausdorff95(a, b, dims: dims, spacing: [1, 1, 1]) == 1)
        #expect(SegmentationMetrics.hausdorff95(a, b, dims: dims, spacing: [2, 1, 1]) == 2)
        #expect(SegmentationMetrics.percentile([0, 10], 95) == 9.5)
        let empty = [UInt8](repeating: 0, count: 90)
        #expect(SegmentationMetrics.hausdorff95(empty, b, dims: dims, spacing: [1, 1, 1]) == 373.13)
        #expect(SegmentationMetrics.dice(empty, empty) == 1)
        #expect(SegmentationMetrics.sensitivity(a, empty) == 0)
    }
}
