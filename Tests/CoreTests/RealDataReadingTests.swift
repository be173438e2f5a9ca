import Core
import Foundation
import Testing
import TestSupport

/// Reads every NIfTI file of the real data set (`BRAINSEG_DATA`, i.e. ../shared/data) and
/// checks what the data README promises about shapes, orientations and label values.
@Suite("Real data: every file reads", .enabled(if: RealData.isAvailable, Comment(rawValue: RealData.skipReason)))
struct RealDataReadingTests {
    static var files: [String] { RealData.root.map { RealData.niftiFiles(below: $0) } ?? [] }

    @Test("the data set is where BRAINSEG_DATA says and is complete")
    func dataSetPresent() throws {
        let files = Self.files
        // 17 labelled × 5 + 8 unlabelled × 4 + 4 (2023) + 4 (RAS) + 3 (nibabel) + 3 (MNI).
        #expect(files.count == 131, "found \(files.count) NIfTI files under \(RealData.root ?? "")")
    }

    @Test("reads, with the documented shape and orientation", arguments: files)
    func reads(_ path: String) throws {
        let name = URL(fileURLWithPath: path).lastPathComponent
        if name == "example4d.nii.gz" {
            #expect(throws: NiftiError.self) { try Volume.read(from: path) }
            let image = try NiftiReader.read(from: path, requireThreeDimensional: false)
            #expect(image.header.dims == [128, 96, 24, 2])
            return
        }
        let volume = try Volume.read(from: path)
        if path.contains("/brats18/") || path.contains("/brats2023-naming/") {
            #expect(volume.dims == [240, 240, 155])
            #expect(volume.geometry.orientation == "LPS")
            #expect(volume.geometry.spacingInMillimetres == [1, 1, 1])
        } else if path.contains("/ras-orientation/") {
            #expect(volume.dims == [240, 240, 155])
            #expect(volume.geometry.orientation == "RAS")
        } else if path.contains("/mni152/") {
            #expect(volume.dims == [197, 233, 189])
            #expect(volume.geometry.orientation == "RAS")
        } else if name == "anatomical.nii" {
            #expect(volume.dims == [33, 41, 25])
        } else if name == "standard.nii.gz" {
            #expect(volume.dims == [4, 5, 7])
        } else {
            Issue.record("unexpected file \(path)")
        }
        if name.hasSuffix("_seg.nii.gz") {
            #expect(Set(volume.voxels).isSubset(of: [0, 1, 2, 4]))
            #expect(volume.voxels.contains(4) || path.contains("TCIA10_628"))
        } else if path.contains("/brats18/") {
            #expect(VoxelStatistics(volume.voxels).nonZeroCount > 500_000, "a brain is present")
        }
    }
}
