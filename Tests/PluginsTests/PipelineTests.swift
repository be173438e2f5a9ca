import Core
import Foundation
import Plugins
import Testing
import TestSupport

@Suite("Inference pipeline")
struct PipelineTests {
    @Test("sliding windows reproduce a voxel-wise prediction exactly, with windows overlapping and flush at the end")
    func slidingWindowIsExactForVoxelwisePredictions() {
        var random = SeededRandom(seed: 2)
        let input = Tensor.randomNormal(shape: [1, 2, 20, 17, 23], random: &random)
        let expected = input.map { $0 * 3 + 1 }
        var windows = 0
        let output = SlidingWindow.predict(input, window: [8, 8, 8], outputChannels: 2) { patch in
            windows += 1
            #expect(patch.shape == [1, 2, 8, 8, 8])
            return patch.map { $0 * 3 + 1 }
        }
        #expect(windows == 4 * 4 * 5)
        #expect(output.maximumAbsoluteDifference(expected) < 1e-5)
    }

    @Test("mirror flips are involutions and commute with a voxel-wise model")
    func flips() {
        var random = SeededRandom(seed: 3)
        let x = Tensor.randomNormal(shape: [1, 1, 3, 4, 5], random: &random)
        #expect(x.flipped(height: true, width: true).flipped(height: true, width: true).scalars == x.scalars)
        let flipped = x.flipped(height: false, width: true)
        #expect(flipped[flat: 0] == x[flat: 4])
    }

    @Test("whole-volume and sliding-window inference of a real network agree closely on a synthetic case, and TTA runs")
    func segmenterModes() throws {
        let scratch = try TemporaryDirectory()
        let folder = try SyntheticCases.write(into: scratch.path, count: 1, size: 40)[0]
        let loaded = try MultimodalCase.load(try CaseFiles.find(in: folder))
        let model = StudentModel(profile: .cpu, seed: 4)
        let whole = CaseSegmenter(members: [model]).segment(loaded)
        var options = SegmentationOptions()
        options.maximumWholeVolumeVoxels = 1000
        options.windowSize = [16, 16, 16]
        options.testTimeAugmentation = true
        let windowed = CaseSegmenter(members: [model], options: options).segment(loaded)
        #expect(whole.labels.count == loaded.geometry.voxelCount)
        #expect(windowed.ensembleProbabilities.shape == whole.ensembleProbabilities.shape)
        let values = windowed.ensembleProbabilities.scalars
        #expect(values.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test("the memory estimate follows its per-voxel terms, and a case above the budget is refused before any network runs")
    func memoryBudget() throws {
        let estimate = SegmentationMemory(caseVoxels: 1000, cropVoxels: 100, models: 3)
        #expect(estimate.estimatedBytes == 19 * 1000 + (49 + 12 * 3) * 100 + (1 << 30))
        let scratch = try TemporaryDirectory()
        let folder = try SyntheticCases.write(into: scratch.path, count: 1, size: 24)[0]
        let loaded = try MultimodalCase.load(try CaseFiles.find(in: folder))
        let members: [SegmentationModel] = [StudentModel(profile: .cpu, seed: 1), StudentModel(profile: .cpu, seed: 2)]
        let expected = CaseSegmenter(members: members).memoryEstimate(for: loaded, extraModels: 1)
        #expect(expected.caseVoxels == 24 * 24 * 24 && expected.models == 3 && expected.cropVoxels <= expected.caseVoxels)
        var options = SegmentationOptions()
        options.memoryBudgetBytes = expected.estimatedBytes
        try CaseSegmenter(members: members, options: options).checkMemory(loaded, extraModels: 1)
        options.memoryBudgetBytes -= 1
        #expect(throws: CaseTooLargeForMemory.self) {
            try CaseSegmenter(members: members, options: options).checkMemory(loaded, extraModels: 1)
        }
        #expect(SegmentationOptions().memoryBudgetBytes == 8 << 30)
    }
}
