import Core
import Foundation
import Testing
import TestSupport

@Suite("Case files and preprocessing")
struct ImagingTests {
    @Test("recognises BraTS 2017–2021, 2023 and plain names; ignores temporary files")
    func namingConventions() throws {
        let brats18 = try CaseFiles.recognise(names: ["X_flair.nii.gz", "X_t1.nii.gz", "X_t1ce.nii.gz", "X_t2.nii.gz", "X_seg.nii.gz", ".X_t1.nii.gz.part", "notes.txt"], directory: "/d/X")
        #expect(brats18.identifier == "X")
        #expect(brats18.modalities == ["/d/X/X_t1.nii.gz", "/d/X/X_t1ce.nii.gz", "/d/X/X_t2.nii.gz", "/d/X/X_flair.nii.gz"])
        #expect(brats18.segmentation == "/d/X/X_seg.nii.gz")
        let brats23 = try CaseFiles.recognise(names: ["B-t2f.nii.gz", "B-t1n.nii.gz", "B-t1c.nii.gz", "B-t2w.nii"], directory: "/d/B")
        #expect(brats23.modalities == ["/d/B/B-t1n.nii.gz", "/d/B/B-t1c.nii.gz", "/d/B/B-t2w.nii", "/d/B/B-t2f.nii.gz"])
        #expect(brats23.segmentation == nil)
        let plain = try CaseFiles.recognise(names: ["t1.nii.gz", "t1c.nii.gz", "t2.nii.gz", "flair.nii.gz"], directory: "/d/P")
        #expect(plain.modalities.last == "/d/P/flair.nii.gz")
        #expect(CaseFiles.isIgnored("a.nii.gz.tmp") && CaseFiles.isIgnored(".hidden") && !CaseFiles.isIgnored("a.nii.gz"))
    }

    @Test("missing and ambiguous modalities are named")
    func incompleteCases() {
        #expect { try CaseFiles.recognise(names: ["X_t1.nii.gz", "X_t2.nii.gz"], directory: "/d/X") } throws: { error in
            let text = "\(error)"
            return text.contains("T1ce") && text.contains("FLAIR") && !text.contains("missing T1,")
        }
        #expect { try CaseFiles.recognise(names: ["t1.nii.gz", "X_t1.nii", "t1c.nii.gz", "t2.nii.gz", "flair.nii.gz"], directory: "/d/X") } throws: { error in
            "\(error)".contains("2 files look like T1")
        }
    }

    @Test("loading refuses mismatched shapes, empty and constant modalities, accepts a good case")
    func validation() throws {
        let scratch = try TemporaryDirectory()
        let geometry = VolumeGeometry(dims: [6, 5, 4])
        var brain = Volume(geometry: geometry)
        for index in 10..<80 { brain.voxels[index] = Float(index) }
        for name in ["c_t1", "c_t1ce", "c_t2", "c_flair"] { try NiftiWriter.write(brain, to: scratch.file("\(name).nii.gz")) }
        var labels = [UInt8](repeating: 0, count: 120)
        labels[20] = 4; labels[21] = 1; labels[22] = 2
        try NiftiWriter.writeLabels(labels, geometry: geometry, to: scratch.file("c_seg.nii.gz"))
        let loaded = try MultimodalCase.load(try CaseFiles.find(in: scratch.path))
        #expect(loaded.modalities.count == 4)
        #expect(loaded.truth == labels)

        try NiftiWriter.write(Volume(geometry: VolumeGeometry(dims: [6, 5, 3])), to: scratch.file("c_t2.nii.gz"))
        #expect { try MultimodalCase.load(try CaseFiles.find(in: scratch.path)) } throws: { "\($0)".contains("T2 has shape 6×5×3") }
        try NiftiWriter.write(Volume(geometry: geometry), to: scratch.file("c_t2.nii.gz"))
        #expect { try MultimodalCase.load(try CaseFiles.find(in: scratch.path)) } throws: { "\($0)".contains("T2 is empty") }
        // A constant volume (a scanner's blank series, a fuzzed file) has nothing to normalise:
        // refused by name instead of segmented into an empty mask.
        try NiftiWriter.write(Volume(geometry: geometry, voxels: [Float](repeating: 300, count: 120)), to: scratch.file("c_t2.nii.gz"))
        #expect { try MultimodalCase.load(try CaseFiles.find(in: scratch.path)) } throws: {
            "\($0)".contains("T2 has no contrast") && "\($0)".contains("holds 300")
        }
        var blankSlab = Volume(geometry: geometry)
        for index in 10..<80 { blankSlab.voxels[index] = 7 }
        try NiftiWriter.write(blankSlab, to: scratch.file("c_t2.nii.gz"))
        #expect { try MultimodalCase.load(try CaseFiles.find(in: scratch.path)) } throws: { "\($0)".contains("T2 has no contrast") }
    }

    @Test("a field of view wider than a head, or voxels smaller than any MRI's (a voxel size gone wrong in the header), is refused before the other files are read")
    func fieldOfView() throws {
        let scratch = try TemporaryDirectory()
        var brain = Volume(geometry: VolumeGeometry(dims: [6, 5, 4], spacing: [1, 1, 101]))
        for index in 10..<80 { brain.voxels[index] = Float(index) }
        try NiftiWriter.write(brain, to: scratch.file("c_t1.nii.gz"))
        // The other modalities are missing files: the check must come first.
        for name in ["c_t1ce", "c_t2", "c_flair"] { try Data("not NIfTI".utf8).write(to: URL(fileURLWithPath: scratch.file("\(name).nii.gz"))) }
        #expect { try MultimodalCase.load(try CaseFiles.find(in: scratch.path)) } throws: {
            "\($0)".contains("spans 404 mm along axis 3") && "\($0)".contains("voxel size")
        }
        // Voxels of 0.001 mm (microns read as millimetres) are refused too.
        var tiny = brain
        tiny.geometry = VolumeGeometry(dims: [6, 5, 4], spacing: [0.001, 1, 1])
        try NiftiWriter.write(tiny, to: scratch.file("c_t1.nii.gz"))
        #expect { try MultimodalCase.load(try CaseFiles.find(in: scratch.path)) } throws: {
            "\($0)".contains("voxels are 0.001×1×1 mm") && "\($0)".contains("smaller than the 0.05 mm")
        }
        // 400 mm is still a grid a case may have.
        brain.geometry = VolumeGeometry(dims: [6, 5, 4], spacing: [1, 1, 100])
        for name in ["c_t1", "c_t1ce", "c_t2", "c_flair"] { try NiftiWriter.write(brain, to: scratch.file("\(name).nii.gz")) }
        #expect(try MultimodalCase.load(try CaseFiles.find(in: scratch.path)).modalities.count == 4)
    }

    @Test("bounding box, crop and paste are inverse on the box")
    func boxes() {
        let geometry = VolumeGeometry(dims: [7, 6, 5])
        var volume = Volume(geometry: geometry)
        volume[2, 1, 3] = 5
        volume[4, 3, 1] = -1
        let box = VoxelBox.nonZero(in: [volume])!
        #expect(box.origin == [2, 1, 1] && box.size == [3, 3, 3])
        let cropped = box.crop(volume.voxels, dims: volume.dims)
        #expect(cropped.count == 27)
        #expect(box.paste(cropped, into: volume.dims, background: 0) == volume.voxels)
        #expect(VoxelBox.nonZero(in: [Volume(geometry: geometry)]) == nil)
        #expect(VoxelBox.nonZero(in: [volume], margin: 10)!.size == [7, 6, 5])
    }

    @Test("z-score over the foreground leaves the background at 0")
    func zScore() {
        let values: [Float] = [0, 0, 2, 4, 6, 0]
        let normalized = IntensityNormalization.zScoreForeground(values)
        #expect(normalized[0] == 0 && normalized[5] == 0)
        let foreground = [normalized[2], normalized[3], normalized[4]]
        #expect(abs(foreground.reduce(0, +)) < 1e-6)
        #expect(abs(foreground.map { $0 * $0 }.reduce(0, +) / 3 - 1) < 1e-5)
        let many: [Float] = [0, 100_000] + (1...200).map { Float($0 % 10 + 1) }
        let unit = IntensityNormalization.zScoreClippedUnit(many)
        #expect(unit.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(unit[0] == 0)
        #expect(unit[1] == 1)  // an outlier (z ≈ 14) is clipped at +5σ
    }

    @Test("trilinear resampling matches torch.nn.functional.interpolate", arguments: TorchFixture.cases(in: "imaging"))
    func trilinearMatchesTorch(_ name: String) throws {
        let fixture = try TorchFixture(group: "imaging", name: name)
        let size = fixture.integers("size")
        let output = VolumeResampling.trilinear(fixture["input"], depth: size[0], height: size[1], width: size[2])
        #expect(output.shape == fixture["output"].shape)
        #expect(relativeError(output, fixture["output"]) < 1e-5)
    }

    @Test("nearest resampling of labels and padding round trips")
    func nearestAndPadding() {
        let labels: [UInt8] = [1, 2, 3, 4]  // 4×1×1
        #expect(VolumeResampling.nearest(labels, dims: [4, 1, 1], to: [8, 1, 1]) == [1, 1, 2, 2, 3, 3, 4, 4])
        #expect(VolumeResampling.nearest([1, 1, 2, 2, 3, 3, 4, 4] as [UInt8], dims: [8, 1, 1], to: [4, 1, 1]) == [1, 2, 3, 4])
        #expect(VolumeResampling.size(155, spacing: 1, targetSpacing: 2) == 78)
        var random = SeededRandom(seed: 1)
        let x = Tensor.randomNormal(shape: [1, 2, 3, 5, 6], random: &random)
        let padded = Padding.pad(x, depth: 16, height: 16, width: 8)
        #expect(padded.shape == [1, 2, 16, 16, 8])
        #expect(abs(padded.sum() - x.sum()) < 1e-4)
        #expect(Padding.crop(padded, depth: 3, height: 5, width: 6).scalars == x.scalars)
        #expect(Padding.roundedUp(70, toMultipleOf: 16) == 80)
    }

    @Test("label building: nesting, minimum ET volume, small components removed")
    func labelBuilding() {
        let dims = [10, 10, 10]
        let n = 1000
        var p = Tensor(shape: [3, 10, 10, 10])
        func set(_ channel: Int, _ x: Int, _ y: Int, _ z: Int) { p[flat: channel * n + x + 10 * (y + 10 * z)] = 0.9 }
        for z in 2..<7 { for y in 2..<7 { for x in 2..<7 { set(0, x, y, z) } } }        // WT 125 voxels
        for z in 3..<6 { for y in 3..<6 { for x in 3..<6 { set(1, x, y, z) } } }        // TC 27
        for z in 3..<6 { for y in 3..<6 { for x in 3..<6 { set(2, x, y, z) } } }        // ET 27 ≤ 32
        set(0, 9, 9, 9)                                                                   // an isolated voxel
        var labels = LabelMapBuilder.labels(fromRegionProbabilities: p, dims: dims)
        #expect(labels[9 + 10 * (9 + 10 * 9)] == 0, "a 1-voxel component is below 10 % of the tumour")
        #expect(labels.filter { $0 == 4 }.isEmpty, "27 ET voxels are relabelled as core")
        #expect(labels.filter { $0 == 1 }.count == 27)
        #expect(labels.filter { $0 == 2 }.count == 98)
        for x in 2..<7 { set(2, x, 2, 2) }   // ET now 32 + 0 new inside? 5 more voxels → 32
        set(2, 2, 3, 2)                      // 33 > 32
        labels = LabelMapBuilder.labels(fromRegionProbabilities: p, dims: dims)
        #expect(labels.filter { $0 == 4 }.count == 33)
        var settings = LabelMapBuilder.Settings()
        settings.convention = .brats2023
        #expect(LabelMapBuilder.labels(fromRegionProbabilities: p, dims: dims, settings: settings).filter { $0 == 3 }.count == 33)
    }

    @Test("26-connectivity joins diagonal neighbours")
    func components() {
        var mask = [Bool](repeating: false, count: 27)
        mask[0] = true; mask[13] = true; mask[26] = true   // corner, centre, opposite corner
        let result = ConnectedComponents.label(mask, dims: [3, 3, 3])
        #expect(result.sizes == [3])
        mask[13] = false
        #expect(ConnectedComponents.label(mask, dims: [3, 3, 3]).sizes == [1, 1])
    }
}
