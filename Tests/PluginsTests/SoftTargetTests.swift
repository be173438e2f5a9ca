import Core
import Foundation
@testable import Plugins
import Testing
import TestSupport

/// Soft-label distillation: teachers' probabilities stored with a case (`soft/prob_*.nii.gz`)
/// are read, prepared, cut into patches and blended into the region targets exactly as stated.
@Suite("Soft targets")
struct SoftTargetTests {
    static let size = 16
    static var geometry: VolumeGeometry { VolumeGeometry(dims: [size, size, size]) }

    /// A synthetic labelled case with 8-bit soft files holding `bytes(region, voxel)`.
    static func caseWithSoftTargets(in scratch: TemporaryDirectory, bytes: (Int, Int) -> UInt8) throws -> String {
        let folder = try SyntheticCases.write(into: scratch.file("data"), count: 1, size: size)[0]
        try FileManager.default.createDirectory(atPath: "\(folder)/soft", withIntermediateDirectories: true)
        for (channel, region) in BratsRegion.allCases.enumerated() {
            let values = (0..<(size * size * size)).map { bytes(channel, $0) }
            try NiftiWriter.writeLabels(values, geometry: geometry, to: "\(folder)/soft/prob_\(region.rawValue).nii.gz")
        }
        return folder
    }

    static let studentPlan = ModelRegistry.make("student", profile: .cpu)!.plan

    @Test("8-bit files read as value / 255, float files as stored; a missing region means no soft targets")
    func reading() throws {
        let scratch = try TemporaryDirectory()
        let plain = try SyntheticCases.write(into: scratch.file("plain"), count: 1, size: Self.size)[0]
        #expect(SoftTargets.files(in: plain) == nil)

        let folder = try Self.caseWithSoftTargets(in: scratch) { channel, _ in [255, 128, 0][channel] }
        let paths = try #require(SoftTargets.files(in: folder))
        var soft = try SoftTargets.load(paths, dims: Self.geometry.dims)
        #expect(soft[0].allSatisfy { $0 == 1 })
        #expect(soft[1].allSatisfy { $0 == Float(128) / 255 })
        #expect(soft[2].allSatisfy { $0 == 0 })

        var float = Volume(geometry: Self.geometry)
        float.voxels = float.voxels.map { _ in 0.3 }
        try NiftiWriter.write(float, to: paths[2])
        soft = try SoftTargets.load(paths, dims: Self.geometry.dims)
        #expect(soft[2].allSatisfy { abs($0 - 0.3) < 1e-6 })

        #expect(throws: (any Error).self) { try SoftTargets.load(paths, dims: [8, 8, 8]) }
        try FileManager.default.removeItem(atPath: paths[1])
        #expect(SoftTargets.files(in: folder) == nil)
    }

    @Test("prepared soft targets follow the image's crop and resampling: constants stay constant; the cache keeps them and misses when they change")
    func preparing() throws {
        let scratch = try TemporaryDirectory()
        let folder = try Self.caseWithSoftTargets(in: scratch) { channel, _ in [51, 102, 204][channel] }
        let files = try CaseFiles.find(in: folder)
        let cache = scratch.file("cache")
        // A run without soft targets leaves them out (and keeps its old cache key).
        #expect(try PreparedCase.cached(files, plan: Self.studentPlan, cache: cache).softTargets == nil)
        let prepared = try PreparedCase.cached(files, plan: Self.studentPlan, cache: cache, softTargets: true)
        let soft = try #require(prepared.softTargets)
        #expect(soft.shape == [3] + prepared.size)
        let count = prepared.labels.count
        for (channel, byte) in [51, 102, 204].enumerated() {
            let values = soft.scalars[(channel * count)..<((channel + 1) * count)]
            #expect(values.allSatisfy { abs($0 - Float(byte) / 255) < 1e-5 }, "region \(channel) is not the constant it was written as")
        }
        // From the cache: the same tensor.
        let again = try PreparedCase.cached(files, plan: Self.studentPlan, cache: cache, softTargets: true)
        #expect(again.softTargets?.scalars == soft.scalars)
        // Changed soft files: a new cache key, new values.
        try NiftiWriter.writeLabels([UInt8](repeating: 255, count: Self.size * Self.size * Self.size),
                                    geometry: Self.geometry, to: "\(folder)/soft/prob_ET.nii.gz")
        let changed = try PreparedCase.cached(files, plan: Self.studentPlan, cache: cache, softTargets: true)
        #expect(changed.softTargets!.scalars[(2 * count)...].allSatisfy { abs($0 - 1) < 1e-5 })
        // The key of a run without soft targets does not see the soft files at all.
        let keyWithout = try PreparedCase.cacheKey(files, plan: Self.studentPlan, softTargets: false)
        #expect(keyWithout != (try PreparedCase.cacheKey(files, plan: Self.studentPlan, softTargets: true)))
        try FileManager.default.removeItem(atPath: "\(folder)/soft")
        #expect(keyWithout == (try PreparedCase.cacheKey(files, plan: Self.studentPlan, softTargets: false)))
        // Without soft files the case prepares as before, with none.
        let plain = try SyntheticCases.write(into: scratch.file("plain"), count: 1, size: Self.size)[0]
        #expect(try PreparedCase.cached(try CaseFiles.find(in: plain), plan: Self.studentPlan, cache: cache, softTargets: true).softTargets == nil)
    }

    @Test("a damaged cache file (a label of 300, a wrong shape) is prepared again and overwritten, never trusted")
    func damagedCacheFile() throws {
        let scratch = try TemporaryDirectory()
        let files = try CaseFiles.find(in: try SyntheticCases.write(into: scratch.file("data"), count: 1, size: Self.size)[0])
        let cache = scratch.file("cache")
        let prepared = try PreparedCase.cached(files, plan: Self.studentPlan, cache: cache)
        let path = "\(cache)/\(files.identifier)-\(try PreparedCase.cacheKey(files, plan: Self.studentPlan, softTargets: false)).safetensors"
        var stored = try SafeTensors.read(from: path)
        var labels = try #require(stored.tensors["labels"])
        labels.withUnsafeMutableBufferPointer { $0[0] = 300 }
        stored.tensors["labels"] = labels
        try stored.write(to: path)
        #expect(PreparedCase.fromCache(try SafeTensors.read(from: path), identifier: "x") == nil)
        #expect(try PreparedCase.cached(files, plan: Self.studentPlan, cache: cache).labels == prepared.labels)
        #expect(PreparedCase.fromCache(try SafeTensors.read(from: path), identifier: "x") != nil, "rewritten")
        stored.tensors["labels"] = Tensor(shape: [3], values: [0, 1, 2])
        try stored.write(to: path)
        #expect(try PreparedCase.cached(files, plan: Self.studentPlan, cache: cache).labels == prepared.labels)
    }

    /// A prepared case whose soft targets are its own labels' region indicators.
    static func consistentCase() throws -> PreparedCase {
        let scratch = try TemporaryDirectory()
        let folder = try SyntheticCases.write(into: scratch.file("data"), count: 1, size: 24)[0]
        let loaded = try MultimodalCase.load(try CaseFiles.find(in: folder))
        let plan = InputPlan(resolution: .spacing(1), intensity: .zScoreForeground, sizeMultiple: 1)
        let regions = TrainingObjective.regionTargets(loaded.truth!, size: loaded.geometry.dims.reversed())
        let voxels = loaded.truth!.count
        let soft = (0..<3).map { Array(regions.scalars[($0 * voxels)..<(($0 + 1) * voxels)]) }
        return PreparedCase.prepare(loaded, plan: plan, soft: soft)
    }

    @Test("without augmentation a patch's soft targets are exactly its labels' regions when they agree on the case")
    func patchesAlignWithoutAugmentation() throws {
        let source = try Self.consistentCase()
        let tumour = source.labels.indices.filter { source.labels[$0] != 0 }
        let voxel = tumour[tumour.count / 2]
        let input = source.size
        // An even patch side puts the samples at centre ± half-integers: a centre at .5 makes them voxel centres.
        let centre = [Double(voxel / (input[1] * input[2])), Double((voxel / input[2]) % input[1]), Double(voxel % input[2])].map { $0 + 0.5 }
        var random = SeededRandom(seed: 3)
        let patch = PatchSampler.extract(source, centre: centre, size: [8, 8, 8], draw: Augmentation.none.draw(&random))
        let soft = try #require(patch.softTargets)
        #expect(soft.shape == [1, 3, 8, 8, 8])
        #expect(patch.labels.contains { $0 != 0 })
        let hard = TrainingObjective.regionTargets(patch.labels, size: [8, 8, 8]).scalars
        let mismatches = zip(soft.scalars, hard).filter { $0 != $1 }.count
        #expect(mismatches == 0, "\(mismatches) of \(hard.count) target values differ from the labels' regions")
    }

    @Test("with rotation and scaling the soft targets move with the labels: they disagree only along boundaries")
    func patchesAlignWithAugmentation() throws {
        let source = try Self.consistentCase()
        var random = SeededRandom(seed: 11)
        var augmentation = Augmentation()
        augmentation.rotationDegrees = 30
        var disagreements = 0, total = 0
        for _ in 0..<6 {
            let centre = PatchSampler.centre(in: source, tumour: TumourCentres(labels: source.labels, classBalanced: false), size: [12, 12, 12], tumourProbability: 1, random: &random)
            let patch = PatchSampler.extract(source, centre: centre, size: [12, 12, 12], draw: augmentation.draw(&random))
            let hard = TrainingObjective.regionTargets(patch.labels, size: [12, 12, 12]).scalars
            let soft = try #require(patch.softTargets).scalars
            for (h, s) in zip(hard, soft) where h == 1 || s > 0 {
                total += 1
                if (s >= 0.5) != (h == 1) { disagreements += 1 }
            }
        }
        #expect(total > 500)
        #expect(Double(disagreements) / Double(total) < 0.15, "\(disagreements) of \(total) tumour voxels disagree")
    }

    @Test("region targets blend as (1 − w)·label + w·soft; w = 0 or no soft targets give the labels")
    func blending() throws {
        let labels: [UInt8] = [0, 2, 1, 4, 0, 2, 4, 1]
        let size = [2, 2, 2]
        let hard = TrainingObjective.regionTargets(labels, size: size)
        let softValues = (0..<24).map { Float($0) / 24 }
        var patch = TrainingPatch(image: Tensor(shape: [1, 4] + size), labels: labels, softTargets: Tensor(shape: [1, 3] + size, values: softValues))
        #expect(TrainingObjective.regionTargets(patch, softTargetWeight: 0).scalars == hard.scalars)
        let blended = TrainingObjective.regionTargets(patch, softTargetWeight: 0.25).scalars
        for index in 0..<24 {
            #expect(abs(blended[index] - (0.75 * hard.scalars[index] + 0.25 * softValues[index])) < 1e-6)
        }
        #expect(TrainingObjective.regionTargets(patch, softTargetWeight: 1).scalars == softValues)
        patch.softTargets = nil
        #expect(TrainingObjective.regionTargets(patch, softTargetWeight: 0.5).scalars == hard.scalars)
    }

    @Test("confident voxels: weight 1 where the teachers' probability is ≥ c or ≤ 1 − c, 0 between; none for expert labels, without soft targets or with c ≤ 0.5")
    func confidentVoxels() {
        let size = [1, 1, 6]
        let soft = Tensor(shape: [1, 3] + size, values: [0.05, 0.2, 0.21, 0.5, 0.79, 0.8,
                                                         0.95, 1, 0, 0.6, 0.3, 0.81,
                                                         0.19, 0.2, 0.8, 0.799, 0.201, 0.99])
        let patch = TrainingPatch(image: Tensor(shape: [1, 4] + size), labels: [0, 0, 0, 0, 0, 0], softTargets: soft, isPseudoLabelled: true)
        let weights = TrainingObjective.confidentVoxels(patch, confidence: 0.8)
        #expect(weights?.shape == soft.shape)
        #expect(weights?.scalars == [1, 1, 0, 0, 0, 1,
                                     1, 1, 1, 0, 0, 1,
                                     1, 1, 1, 0, 0, 1])
        #expect(TrainingObjective.confidentVoxels(patch, confidence: 0.5) == nil)
        #expect(TrainingObjective.confidentVoxels(patch, confidence: 0) == nil)
        let labelled = TrainingPatch(image: patch.image, labels: patch.labels, softTargets: nil, isPseudoLabelled: true)
        #expect(TrainingObjective.confidentVoxels(labelled, confidence: 0.8) == nil)
        // An expert's labels with the teachers' probabilities beside them: trusted everywhere.
        let expert = TrainingPatch(image: patch.image, labels: patch.labels, softTargets: soft)
        #expect(TrainingObjective.confidentVoxels(expert, confidence: 0.8) == nil)
    }
}
