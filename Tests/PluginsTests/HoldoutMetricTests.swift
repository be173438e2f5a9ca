import Core
import Foundation
import Plugins
import Testing
import TestSupport

/// The two Dice families the promotion gate can compare (`HoldoutEvaluation.Metric`).
@Suite("Hold-out metric")
struct HoldoutMetricTests {
    static func load(_ pair: String) throws -> (prediction: [UInt8], truth: [UInt8], geometry: VolumeGeometry) {
        let prediction = try Volume.read(from: LesionFixtures.syntheticPath(pair, "pred"))
        let truth = try Volume.read(from: LesionFixtures.syntheticPath(pair, "truth"))
        return (prediction.voxels.map { UInt8($0) }, truth.voxels.map { UInt8($0) }, prediction.geometry)
    }

    @Test("volume is RegionEvaluation's Dice; lesion is pq_dsc, which a spurious lesion lowers")
    func families() throws {
        let (prediction, truth, geometry) = try Self.load("spurious_lesion")
        let volume = HoldoutEvaluation.dice(prediction: prediction, truth: truth, geometry: geometry, metric: .volume)
        let lesion = HoldoutEvaluation.dice(prediction: prediction, truth: truth, geometry: geometry, metric: .lesion)
        let regions = RegionEvaluation.evaluate(prediction: prediction, truth: truth, dims: geometry.dims, spacing: geometry.spacingInMillimetres)
        let lesionWise = LesionWiseEvaluation.evaluate(prediction: prediction, truth: truth, dims: geometry.dims,
                                                       spacing: geometry.spacingInMillimetres)
        for region in BratsRegion.allCases {
            #expect(volume[region] == regions[region]!.dice)
            #expect(lesion[region] == lesionWise[region]!.panopticQualityDice)
            #expect(lesion[region]! < volume[region]!, "one matched and one spurious lesion: rq = 2/3")
        }
    }

    @Test("a region empty on both sides scores 1 lesion-wise (the evaluator's NaN), as volume-wise")
    func emptyIsPerfect() throws {
        let (prediction, truth, geometry) = try Self.load("empty_empty")
        for metric in HoldoutEvaluation.Metric.allCases {
            let dice = HoldoutEvaluation.dice(prediction: prediction, truth: truth, geometry: geometry, metric: metric)
            #expect(BratsRegion.allCases.allSatisfy { dice[$0] == 1 }, "\(metric): \(dice)")
        }
    }
}
