import Core
import Foundation
import Testing
import TestSupport

/// Writing: round trips keep values and geometry identical (checked against nibabel's view of
/// the source), label maps in both storage types, atomic publication, clear failures.
@Suite("NIfTI writer")
struct NiftiWriterTests {
    let scratch: TemporaryDirectory
    init() throws { scratch = try TemporaryDirectory() }

    @Test("Float32 round trip keeps voxels and geometry identical", arguments: NiftiFixtureExpectations.shared.images)
    func imageRoundTrip(_ expected: NiftiFixtureExpectations.Image) throws {
        let source = try Volume.read(from: expected.path)
        for ext in [".nii.gz", ".nii"] {
            let target = scratch.file("copy\(ext)")
            try NiftiWriter.write(source, to: target)
            let copy = try NiftiReader.read(from: target)
            #expect(copy.header.niftiVersion == 1)
            #expect(copy.header.datatype == .float32)
            #expect(copy.header.isCompressed == ext.hasSuffix(".gz"))
            if expected.niftiVersion == 1 {
                #expect(copy.geometry == source.geometry)  // exact: both are Float32 header fields
            } else {
                // NIfTI-2 stores Float64; brainseg writes NIfTI-1, i.e. Float32 geometry.
                #expect(copy.geometry.spacing == source.geometry.spacing.map { Double(Float($0)) })
                expectClose(copy.geometry.sformMatrix, source.geometry.sformMatrix, tolerance: 1e-5, "sform")
            }
            #expect(copy.voxels == source.voxels)
            // And still what nibabel says the source is.
            #expect(copy.geometry.dims == expected.dims)
            expectClose(copy.geometry.spacing, expected.spacing, tolerance: 1e-6, "spacing")
            #expect(copy.geometry.qformCode == expected.qformCode)
            #expect(copy.geometry.sformCode == expected.sformCode)
            #expect(copy.geometry.orientation == expected.orientation)
            expectClose(copy.geometry.bestAffine, expected.bestAffine, tolerance: 1e-5, "best affine")
        }
    }

    @Test("label maps round trip as uint8 and int16 with the source geometry")
    func labelRoundTrip() throws {
        let source = try Volume.read(from: Fixtures.path("nifti/labels_int16.nii.gz"))
        let labels = source.voxels.map { UInt8($0) }
        #expect(Set(labels) == [0, 1, 2, 4])
        for (datatype, name) in [(NiftiWriter.LabelDatatype.uint8, "uint8"), (.int16, "int16")] {
            let target = scratch.file("seg_\(name).nii.gz")
            try NiftiWriter.writeLabels(labels, geometry: source.geometry, to: target, as: datatype)
            let copy = try NiftiReader.read(from: target)
            #expect(copy.header.datatype.name == name)
            #expect(copy.geometry == source.geometry)
            #expect(copy.voxels == source.voxels)
        }
    }

    @Test("a synthetic geometry survives Float32 header storage")
    func syntheticGeometry() throws {
        let geometry = VolumeGeometry(dims: [7, 6, 5], spacing: [2, 2, 2.5])
        var volume = Volume(geometry: geometry)
        for index in volume.voxels.indices { volume.voxels[index] = Float(index) * 0.25 - 3 }
        let target = scratch.file("synthetic.nii.gz")
        try NiftiWriter.write(volume, to: target)
        let copy = try Volume.read(from: target)
        #expect(copy.voxels == volume.voxels)
        #expect(copy.geometry.dims == [7, 6, 5])
        #expect(copy.geometry.spacing == [2, 2, 2.5])
        #expect(copy.geometry.orientation == "RAS")
    }

    @Test("publishing is atomic: no temporary file is left behind, the final name appears whole")
    func atomicPublication() throws {
        let source = try Volume.read(from: Fixtures.path("nifti/dtype_float32.nii.gz"))
        try NiftiWriter.write(source, to: scratch.file("out.nii.gz"))
        #expect(scratch.contents() == ["out.nii.gz"])
        // Overwriting replaces the file in one step, again without leftovers.
        try NiftiWriter.write(source, to: scratch.file("out.nii.gz"))
        #expect(scratch.contents() == ["out.nii.gz"])
        #expect(AtomicFile.temporaryPath(for: "/a/b/case_seg.nii.gz").hasPrefix("/a/b/.case_seg.tmp-"))
        #expect(AtomicFile.temporaryPath(for: "/a/b/case_seg.nii.gz").hasSuffix(".nii.gz"))
    }

    @Test("failures are typed, name the file and leave nothing behind")
    func failures() throws {
        let source = try Volume.read(from: Fixtures.path("nifti/dtype_float32.nii.gz"))
        let missingDirectory = scratch.file("no/such/dir/out.nii.gz")
        #expect { try NiftiWriter.write(source, to: missingDirectory) } throws: { error in
            (error as? NiftiError)?.kind == .writeFailed && (error as? NiftiError)?.path == missingDirectory
        }
        var poisoned = source
        poisoned.voxels[3] = .nan
        #expect { try NiftiWriter.write(poisoned, to: scratch.file("nan.nii.gz")) } throws: { error in
            (error as? NiftiError)?.kind == .writeFailed
        }
        #expect { try NiftiWriter.write(source, to: scratch.file("wrong.img")) } throws: { error in
            (error as? NiftiError)?.kind == .writeFailed
        }
        #expect { try NiftiWriter.writeLabels([1, 2], geometry: source.geometry, to: scratch.file("short.nii.gz")) } throws: { error in
            (error as? NiftiError)?.kind == .writeFailed
        }
        #expect(scratch.contents().isEmpty)
    }

    @Test("writing into a full file system fails cleanly", .enabled(if: FileManager.default.fileExists(atPath: "/dev/full")))
    func fullDisk() throws {
        // /dev/full cannot host a temporary file next to it; the writer must refuse, not crash.
        let source = try Volume.read(from: Fixtures.path("nifti/dtype_float32.nii.gz"))
        #expect(throws: NiftiError.self) { try NiftiWriter.write(source, to: "/dev/full/out.nii.gz") }
    }
}
